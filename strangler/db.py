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

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple
from uuid import UUID

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

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
    if connection.vendor == "postgresql":
        if any(prepare is not None for prepare in statement.prepare):
            rows = [_prepared(row, statement.prepare) for row in rows]
        with prepared_cursor(connection) as (cursor, prepare):
            cursor.execute(statement.sql, [json.dumps(rows, default=_json_value)], **prepare)
            if returning:
                found.extend(cursor.fetchall())
        return found
    with connection.cursor() as cursor:
        per_statement = max(1, _MAX_PARAMETERS // len(fields))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            values = ", ".join([statement.row_placeholder] * len(chunk))
            params = [value for row in chunk for value in _prepared(row, statement.prepare)]
            cursor.execute(statement.sql.replace("{values}", values, 1), params)
            if returning:
                found.extend(cursor.fetchall())
    return found


# Aliases whose server refused a prepared statement (a pooler that does not keep them).
_UNPREPARED: dict[str, bool] = {}
_EXPLICIT_ONLY = 2**31 - 1  # no statement is prepared by repetition, only when asked to


@contextlib.contextmanager
def prepared_cursor(
    connection: BaseDatabaseWrapper,
) -> Iterator[tuple[Any, dict[str, bool]]]:
    """A cursor for a hot statement whose text never changes, and the keyword arguments to
    execute it with: `with prepared_cursor(conn) as (cursor, prepare): cursor.execute(sql,
    params, **prepare)`.

    On PostgreSQL with psycopg 3 the statement is prepared once per connection and later runs
    from its plan: the relay's claim planned in 1.0-1.5 ms a cycle, more than it ran during a
    trickle (ADR 0013). Django's cursors bind parameters on the client and cannot prepare; a
    server-binding cursor on the same connection runs in the same transaction, and Django's
    wrapper turns its errors into django.db's. Django's own cursor everywhere else: another
    database, psycopg2, OPTIONS that set `prepare_threshold` to None (prepared statements off,
    as for a transaction-mode pooler), or after the server refused a prepared statement (then
    the statement fails once, as any database error does, and is planned every time after).
    Statements run here are not spans of OpenTelemetry's psycopg instrumentation.
    """
    psycopg = _psycopg()
    if psycopg is None or connection.vendor != "postgresql" or not _prepares(connection):
        with connection.cursor() as cursor:
            yield cursor, {}
        return
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django connects with prepared statements off; only `prepare=True` prepares here.
        raw.prepare_threshold = _EXPLICIT_ONLY
    with connection.wrap_database_errors:
        try:
            with psycopg.Cursor(raw) as cursor:
                yield cursor, {"prepare": True}
        except (psycopg.errors.InvalidSqlStatementName, psycopg.errors.DuplicatePreparedStatement):
            _UNPREPARED[connection.alias] = True
            logger.warning(
                "database %r refused a prepared statement (a pooler in transaction mode?): "
                "statements are planned every time from now on",
                connection.alias,
            )
            raise


def _prepares(connection: BaseDatabaseWrapper) -> bool:
    if _UNPREPARED.get(connection.alias):
        return False
    options = connection.settings_dict.get("OPTIONS") or {}
    return "prepare_threshold" not in options or options["prepare_threshold"] is not None


@lru_cache(maxsize=1)
def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # psycopg2: Django's cursor, planned every time
        return None
    return psycopg


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
