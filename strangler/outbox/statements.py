"""Which tracked tables an SQL statement writes, and which rows it names: pure text reading."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class TrackedTable:
    """A table whose rows are an aggregate's state: changing one needs an event of that type."""

    table: str
    aggregate_type: str
    pk_column: str


@dataclass(frozen=True)
class TableWrite:
    """One statement's write to a tracked table.

    `ids` are the primary keys the statement names (None when it names none: a filtered UPDATE,
    a bulk INSERT of new rows, raw SQL with another WHERE); `rows` is the number of rows an
    INSERT's VALUES list holds, when it has one.
    """

    verb: str
    table: TrackedTable
    ids: frozenset[str] | None
    rows: int | None = None


_KEYWORD = re.compile(r"\s*(\w+)")
WRITE_KEYWORDS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "TRUNCATE", "WITH"})
_IDENT = r'(?:"[^"]+"|`[^`]+`|\w+)'
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT})?"
# "FOR UPDATE", "FOR NO KEY UPDATE" (row locks) and "DO UPDATE" (ON CONFLICT) change no table.
_TARGET = re.compile(
    r"(?P<verb>INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|MERGE\s+INTO|DELETE\s+FROM"
    r"|TRUNCATE(?:\s+TABLE)?(?:\s+ONLY)?|(?<!FOR\s)(?<!KEY\s)(?<!DO\s)UPDATE(?:\s+ONLY)?)"
    rf"\s+(?P<name>{_NAME}(?:\s*,\s*{_NAME})*)",
    re.IGNORECASE,
)
_NAME_LIST = re.compile(_NAME)
_VALUE = r"(?:%s|-?\d+|'[^']*')"
_INSERT_COLUMNS = re.compile(
    rf"^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+{_NAME}\s*\((?P<columns>[^)]*)\)\s*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_VALUES = re.compile(
    r"^VALUES\s*(?P<rows>.*?)\s*(?:RETURNING\b.*|ON\s+CONFLICT\b.*)?;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_PLACEHOLDER_ROW = re.compile(r"\((?:%s,)*%s\)")
_SAVEPOINT = re.compile(r"\s*ROLLBACK\s+TO\s+(?:SAVEPOINT\s+)?(?P<sid>\S+)", re.IGNORECASE)


def rolled_back_savepoint(sql: str) -> str | None:
    """The savepoint a `ROLLBACK TO SAVEPOINT` names; None for a plain ROLLBACK."""
    match = _SAVEPOINT.match(sql)
    return match["sid"].strip('";`') if match else None


def _bare(name: str) -> str:
    """`"public"."catalog_product"` -> `catalog_product`: the table's own name, lower case."""
    return name.rsplit(".", 1)[-1].strip().strip('"`').lower()


def statement_keyword(sql: str) -> str:
    """The statement's first word, upper case (`UPDATE`, `RELEASE`, `SELECT`...)."""
    match = _KEYWORD.match(sql)
    return match.group(1).upper() if match else ""


def write_targets(sql: str, tables: dict[str, TrackedTable]) -> list[tuple[str, TrackedTable]]:
    """(verb, table) for every tracked table the statement writes; [] for anything else."""
    if statement_keyword(sql) not in WRITE_KEYWORDS:
        return []
    found = []
    for match in _TARGET.finditer(sql):
        verb = match["verb"].split()[0].upper()
        names = _NAME_LIST.findall(match["name"]) if verb == "TRUNCATE" else [match["name"]]
        for name in names:
            table = tables.get(_bare(name))
            if table is not None:
                found.append((verb, table))
    return found


def parse_writes(
    sql: str, params: Any, many: bool, tables: dict[str, TrackedTable]
) -> list[TableWrite]:
    """The statement's writes to tracked tables, naming their rows where it names them cheaply."""
    return table_writes(sql, params, many, write_targets(sql, tables))


def table_writes(
    sql: str, params: Any, many: bool, targets: list[tuple[str, TrackedTable]]
) -> list[TableWrite]:
    """The writes of a statement whose targets write_targets found (params: executemany's rows
    when `many`)."""
    if len(targets) != 1 or statement_keyword(sql) != targets[0][0]:
        # A CTE or a statement writing several tables: table precision only.
        return [TableWrite(verb, table, None) for verb, table in targets]
    verb, table = targets[0]
    rows = list(params) if many else [params]
    if verb == "INSERT":
        ids, count = _inserted_ids(sql, rows, table)
        return [TableWrite(verb, table, ids, count)]
    if verb in ("UPDATE", "DELETE"):
        return [TableWrite(verb, table, _where_ids(sql, rows, table))]
    return [TableWrite(verb, table, None)]


@lru_cache(maxsize=256)
def _where_pk(table: str, pk: str) -> re.Pattern[str]:
    """`WHERE "t"."id" = %s` / `WHERE id IN (1, 2)` ending the statement."""
    column = rf'(?:"?{re.escape(table)}"?\s*\.\s*)?"?{re.escape(pk)}"?'
    return re.compile(
        rf"\bWHERE\s+{column}\s*(?:=\s*(?P<one>{_VALUE})|IN\s*\((?P<many>{_VALUE}"
        rf"(?:\s*,\s*{_VALUE})*)\s*\))\s*;?\s*$",
        re.IGNORECASE,
    )


def _where_ids(sql: str, rows: list[Any], table: TrackedTable) -> frozenset[str] | None:
    match = _where_pk(table.table, table.pk_column).search(sql)
    if match is None:
        return None
    values = [v.strip() for v in (match["one"] or match["many"]).split(",")]
    placeholders = values.count("%s")
    total = sql.count("%s")
    ids: set[str] = set()
    for params in rows:
        params = list(params or ())
        if len(params) != total:
            return None
        bound = iter(params[total - placeholders :])
        for value in values:
            ids.add(str(next(bound)) if value == "%s" else value.strip("'"))
    return frozenset(ids)


def _inserted_ids(
    sql: str, rows: list[Any], table: TrackedTable
) -> tuple[frozenset[str] | None, int | None]:
    match = _INSERT_COLUMNS.match(sql)
    if match is None:
        return None, None
    columns = [_bare(column) for column in match["columns"].split(",")]
    values = _VALUES.match(match["rest"])
    if values is not None:
        tuples = re.sub(r"\s+", "", values["rows"])
        row_tuples = _PLACEHOLDER_ROW.findall(tuples)
        if ",".join(row_tuples) != tuples or not row_tuples:
            return None, None
        count = len(row_tuples) * len(rows)
        width = row_tuples[0].count("%s")
        if table.pk_column.lower() not in columns or width != len(columns):
            return None, count
        position = columns.index(table.pk_column.lower())
        ids = {str(params[i]) for params in rows for i in range(position, len(params), width)}
        return frozenset(ids), count
    if "UNNEST(" in match["rest"].upper() and table.pk_column.lower() in columns:
        # PostgreSQL bulk_create: INSERT ... SELECT * FROM UNNEST(%s::type[], ...), one array
        # parameter per column.
        position = columns.index(table.pk_column.lower())
        ids = set()
        for params in rows:
            params = list(params or ())
            if len(params) != len(columns) or not isinstance(params[position], list | tuple):
                return None, None
            ids.update(str(value) for value in params[position])
        return frozenset(ids), None
    return None, None
