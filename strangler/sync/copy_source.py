"""The writer's side of the copy phase: a chunk of rows with their versions, read in one snapshot.

One REPEATABLE READ transaction reads, in this order, the outbox high-water mark (the largest
outbox id visible) and the rows after a key with each row's aggregate version (from the outbox's
version counter, 0 for a row no event has touched). A service writes a row and records its event
(bumping the counter) in one transaction, so in one snapshot a row and its version agree: the
copied row *is* the state at that version, and an event with a higher version is newer than it.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction

from strangler.outbox.models import AggregateVersion, OutboxEvent
from strangler.sync.checksums import column_name
from strangler.sync.conf import AggregateSpec
from strangler.sync.copy_format import encode_row

MAX_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class CopyChunk:
    """Rows of one aggregate after a key, as COPY text lines (strangler.sync.copy_format)."""

    signature: str
    rows: int
    last_key: int | None  # None when there was nothing after the key
    high_water: int  # largest outbox id in the snapshot the rows were read in
    data: str
    read_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "rows": self.rows,
            "last_key": self.last_key,
            "high_water": self.high_water,
            "data": self.data,
            "read_seconds": round(self.read_seconds, 4),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CopyChunk:
        last_key = data["last_key"]
        return cls(
            signature=str(data["signature"]),
            rows=int(data["rows"]),
            last_key=None if last_key is None else int(last_key),
            high_water=int(data["high_water"]),
            data=str(data["data"]),
            read_seconds=float(data["read_seconds"]),
        )


@dataclass(frozen=True)
class WriterLoad:
    """How busy the writer is: its unpublished outbox events (counted up to a bound)."""

    outbox_pending: int
    oldest_pending_id: int | None  # every event before it is published
    high_water: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "outbox_pending": self.outbox_pending,
            "oldest_pending_id": self.oldest_pending_id,
            "high_water": self.high_water,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WriterLoad:
        oldest = data["oldest_pending_id"]
        return cls(
            int(data["outbox_pending"]),
            None if oldest is None else int(oldest),
            int(data["high_water"]),
        )


def _select_sql(spec: AggregateSpec, quote: Any, cast_key: str) -> str:
    """The rows after a key (first parameter), with versions; aggregate type second, limit third."""
    meta = spec.model._meta
    key = f"t.{quote(meta.pk.column)}"
    columns = ", ".join(f"t.{quote(column_name(meta, attname))}" for _, attname in spec.columns)
    versions = quote(AggregateVersion._meta.db_table)
    return (
        f"SELECT {key}, {columns}{', ' if columns else ''}COALESCE(v.version, 0) "
        f"FROM {quote(meta.db_table)} AS t LEFT JOIN {versions} AS v "
        f"ON v.aggregate_type = %s AND v.aggregate_id = {cast_key.format(key)} "
        f"WHERE {key} > %s ORDER BY {key} LIMIT %s"
    )


def read_chunk(
    spec: AggregateSpec, *, after: int | None, limit: int, using: str = "default"
) -> CopyChunk:
    """Up to `limit` rows after key `after` (from the start when None), in one snapshot."""
    if not 1 <= limit <= MAX_CHUNK_ROWS:
        raise ValueError(f"a chunk holds 1 to {MAX_CHUNK_ROWS} rows, not {limit}")
    connection = connections[using]
    started = time.monotonic()
    outermost = not connection.in_atomic_block
    low = -(2**63) if after is None else int(after)
    outbox = connection.ops.quote_name(OutboxEvent._meta.db_table)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if outermost:  # inside a caller's transaction (tests) its snapshot is used as it is
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # Native output with fixed settings: ISO timestamps with an explicit UTC offset.
            cursor.execute("SET LOCAL TimeZone = 'UTC'")
            cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {outbox}")
            high_water = int(cursor.fetchone()[0])
            sql = _select_sql(spec, connection.ops.quote_name, "{}::text")
            buffer = io.BytesIO()
            query = _inlined(sql, [spec.label, low, limit], connection)
            with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
                for block in copy:
                    buffer.write(block)
            data = buffer.getvalue().decode()
        else:
            # SQLite: one read transaction sees one snapshot of the database file.
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {outbox}")
            high_water = int(cursor.fetchone()[0])
            sql = _select_sql(spec, connection.ops.quote_name, "CAST({} AS TEXT)")
            cursor.execute(sql, [spec.label, low, limit])
            kinds = [kind for _, kind in spec.fields]
            data = "".join(
                encode_row(row[0], kinds, row[1:-1], row[-1]) + "\n" for row in cursor.fetchall()
            )
    rows = data.count("\n")
    last_line = data.rfind("\n", 0, len(data) - 1) + 1
    last_key = int(data[last_line : data.index("\t", last_line)]) if rows else None
    return CopyChunk(
        signature=spec.signature,
        rows=rows,
        last_key=last_key,
        high_water=high_water,
        data=data,
        read_seconds=time.monotonic() - started,
    )


def _inlined(sql: str, params: list[Any], connection: Any) -> str:
    """`sql` with its %s parameters inlined as literals (COPY takes no bound parameters)."""
    from psycopg import sql as psycopg_sql

    literals = [psycopg_sql.Literal(value) for value in params]
    statement = psycopg_sql.SQL(sql.replace("%s", "{}")).format(*literals)
    return statement.as_string(connection.connection)


def writer_load(*, bound: int, using: str = "default") -> WriterLoad:
    """Unpublished outbox events (counted up to bound + 1), the oldest of them, the high water."""
    pending = OutboxEvent.objects.using(using).filter(published_at__isnull=True)
    count = pending.order_by().values("id")[: bound + 1].count()
    oldest = pending.order_by("id").values_list("id", flat=True).first()
    high_water = (
        OutboxEvent.objects.using(using).order_by("-id").values_list("id", flat=True).first()
    )
    return WriterLoad(count, oldest, int(high_water or 0))
