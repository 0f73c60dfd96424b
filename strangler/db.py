"""Set-based writes for the hot paths: many rows in one statement, no model instances.

The inbox and the sync handlers write hundreds of rows per transaction. `bulk_create` builds a
model instance per row and prepares every value through its field; on the sync benchmark that
was about a third of the consumer's CPU. `upsert_rows` takes plain tuples instead and sends one
statement: on PostgreSQL `INSERT ... SELECT (r->>0)::type, ... FROM jsonb_array_elements(%s)` (one
JSON parameter, whatever the number of rows), elsewhere a multi-row `VALUES` list. Both say
`ON CONFLICT (...) DO NOTHING` or `DO UPDATE SET ... [WHERE ...]` and can return columns of the
rows they wrote (docs/adr/0007-sync-hot-path.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple
from uuid import UUID

from django.db import connections, models, router

# Field types whose Python values go to PostgreSQL as JSON values (or their text) and come out
# right through a cast; other fields are prepared by the field first.
_NATIVE_ON_POSTGRESQL = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "DateTimeField",
        "DecimalField",
        "ForeignKey",
        "IntegerField",
        "JSONField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallIntegerField",
        "TextField",
        "UUIDField",
    }
)
# SQLite allows 32,766 parameters per statement; stay well below it.
_MAX_PARAMETERS = 30_000


def upsert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: Sequence[str],
    update: Sequence[str] = (),
    update_where: str = "",
    returning: Sequence[str] = (),
    using: str | None = None,
) -> list[tuple[Any, ...]]:
    """Insert `rows` (tuples in the order of `fields`) into `model`'s table in one statement.

    - `conflict`: the columns of a unique constraint; a row that collides with an existing one
      updates the `update` fields (or, when `update` is empty, is skipped);
    - `update_where`: an SQL condition on the existing row (the table's name) and `EXCLUDED`,
      e.g. `"{table}.version < EXCLUDED.version"`; `{table}` is replaced by the quoted table name;
    - `returning`: columns to return for each row inserted or updated (not for skipped ones).

    Field names are model field names (`category` or `category_id` for a foreign key). Values are
    the Python values of the fields (aware datetimes, Decimals, ints, strings, None), or for
    datetime and decimal fields their text as an event carries it (ISO 8601 with an offset or Z,
    a decimal string), which the database (or, elsewhere, the field) parses. Nothing else
    is filled in: model defaults, auto_now and the like do not run, so list every column that
    has no database default. Rows may
    not collide with each other on `conflict` when `update` is given (PostgreSQL refuses to
    update a row twice in one statement): reduce them first, e.g. with
    strangler.inbox.handlers.newest_per_key.
    """
    if not rows:
        return []
    connection = connections[using or router.db_for_write(model) or "default"]
    statement = _statement(
        model,
        tuple(fields),
        connection.alias,
        tuple(conflict),
        tuple(update),
        update_where,
        tuple(returning),
    )
    found: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if any(prepare is not None for prepare in statement.prepare):
                rows = [_prepared(row, statement.prepare) for row in rows]
            cursor.execute(statement.sql, [json.dumps(rows, default=_json_value)])
            if returning:
                found.extend(cursor.fetchall())
            return found
        per_statement = max(1, _MAX_PARAMETERS // len(fields))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            values = ", ".join([statement.row_placeholder] * len(chunk))
            params = [value for row in chunk for value in _prepared(row, statement.prepare)]
            cursor.execute(statement.sql.replace("{values}", values, 1), params)
            if returning:
                found.extend(cursor.fetchall())
    return found


class _Statement(NamedTuple):
    """The SQL of one (model, columns, conflict clause) and how to prepare each column."""

    sql: str
    row_placeholder: str
    prepare: list[Callable[[Any], Any] | None]


def _prepared(
    row: Sequence[Any], prepare: Sequence[Callable[[Any], Any] | None]
) -> tuple[Any, ...]:
    return tuple(v if p is None else p(v) for v, p in zip(row, prepare, strict=True))


def _json_value(value: Any) -> str:
    """Values JSON has no type for travel as their text form, which PostgreSQL casts back."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"upsert_rows cannot send {type(value).__name__} values to PostgreSQL")


@lru_cache(maxsize=256)
def _statement(
    model: type[models.Model],
    fields: tuple[str, ...],
    alias: str,
    conflict: tuple[str, ...],
    update: tuple[str, ...],
    update_where: str,
    returning: tuple[str, ...],
) -> _Statement:
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = model._meta
    table = quote(meta.db_table)

    def column(name: str) -> models.Field[Any, Any]:
        field = meta.get_field(name)
        if not isinstance(field, models.Field) or field.column is None:
            raise ValueError(f"{meta.label}.{name} is not a concrete field")
        return field

    concrete = [column(name) for name in fields]
    columns = ", ".join(quote(field.column) for field in concrete)
    prepare: list[Callable[[Any], Any] | None] = []
    postgresql = connection.vendor == "postgresql"
    for field in concrete:
        if postgresql and field.get_internal_type() in _NATIVE_ON_POSTGRESQL:
            prepare.append(None)
        else:
            prepare.append(
                lambda value, field=field: field.get_db_prep_save(value, connection=connection)
            )
    if postgresql:
        # The rows travel as one JSON array of arrays: json.dumps is C code, while psycopg dumps
        # array parameters element by element in Python (3-4x the client CPU of this, measured).
        # As jsonb, parsed once: `->>` on a `json` value parses its text again for every column
        # (500 rows of 11 columns: 5.9 ms of server CPU as json, 0.6 ms as jsonb).
        casts = ", ".join(
            f"(r->>{i})::{field.cast_db_type(connection) or field.db_type(connection)}"
            for i, field in enumerate(concrete)
        )
        source = f"SELECT {casts} FROM jsonb_array_elements(%s::jsonb) AS r"
    else:
        source = "VALUES {values}"
    sql = f"INSERT INTO {table} ({columns}) {source}"
    target = ", ".join(quote(column(name).column) for name in conflict)
    if update:
        assignments = ", ".join(
            f"{quote(column(name).column)} = EXCLUDED.{quote(column(name).column)}"
            for name in update
        )
        sql += f" ON CONFLICT ({target}) DO UPDATE SET {assignments}"
        if update_where:
            sql += " WHERE " + update_where.replace("{table}", table)
    else:
        sql += f" ON CONFLICT ({target}) DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(column(name).column) for name in returning)
    row_placeholder = "(" + ", ".join(["%s"] * len(concrete)) + ")"
    return _Statement(sql, row_placeholder, prepare)
