"""What the cutover changes on one side's own database: the write fence, versions, sequences."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import OperationalError, connection, transaction

from strangler.cutover.selectors import context_specs, sequence_last_value
from strangler.inbox.models import ProjectionVersion
from strangler.outbox.models import AggregateVersion
from strangler.ownership.guard import fence_key

logger = logging.getLogger(__name__)


class FenceTimeout(RuntimeError):
    """Write transactions that passed the guard before the freeze did not finish in time."""


def fence_writes(context: str, *, timeout: float) -> str:
    """Wait until no write transaction of the context that passed the guard is still open.

    On PostgreSQL every guarded write holds the context's fence lock shared until it commits;
    taking it exclusively waits for them all. On SQLite, where one writer holds the database at a
    time, taking the write lock waits for the writer in flight. Returns how it fenced.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'")
            try:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", fence_key(context))
            except OperationalError as exc:
                raise FenceTimeout(
                    f"write transactions of {context} were still open after {timeout}s; a "
                    "long transaction holds the write fence (see pg_locks)."
                ) from exc
            return "advisory lock"
        # A write statement takes SQLite's write lock, waiting for the writer in flight.
        table = AggregateVersion._meta.db_table
        cursor.execute(f"DELETE FROM {table} WHERE 1 = 0")
        return "database write lock"


def seed_versions(context: str) -> dict[str, int]:
    """Continue each aggregate's version counter where the old writer stopped.

    The drain has made this side's ProjectionVersion hold exactly the last version the old
    writer issued for every aggregate; the counters take the higher of that and their own, so
    the first event this side records for an aggregate is newer than anything its readers
    applied, and is never skipped as stale.
    """
    av = AggregateVersion._meta.db_table
    pv = ProjectionVersion._meta.db_table
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    seeded: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for spec in context_specs(context):
            # The WHERE keeps SQLite's parser from reading ON CONFLICT as a join constraint.
            cursor.execute(
                f"INSERT INTO {av} (aggregate_type, aggregate_id, version) "
                f"SELECT %s, aggregate_id, version FROM {pv} WHERE projection = %s "
                "ON CONFLICT (aggregate_type, aggregate_id) "
                f"DO UPDATE SET version = {greatest}({av}.version, excluded.version)",
                [spec.label, spec.projection],
            )
            seeded[spec.label] = cursor.rowcount
    return seeded


def advance_sequences(context: str, floors: Mapping[str, int]) -> dict[str, int | None]:
    """Move each aggregate's id sequence past `floors[label]` (never backwards).

    Returns the sequence's last value afterwards: the next id this side hands out is above it,
    so it can never collide with an id the other side issued.
    """
    result: dict[str, int | None] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for spec in context_specs(context):
            model = spec.model
            table, column = model._meta.db_table, model._meta.pk.column
            floor = int(floors.get(spec.label) or 0)
            current = sequence_last_value(table, model) or 0
            if floor > current:
                _set_sequence(cursor, table, column, floor)
            result[spec.label] = sequence_last_value(table, model)
    return result


def _set_sequence(cursor: Any, table: str, column: str, value: int) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, %s), %s, true)", [table, column, value]
        )
    elif connection.vendor == "sqlite":
        cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [value, table])
        if cursor.rowcount == 0:
            cursor.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, value]
            )
    else:
        raise NotImplementedError(f"advancing sequences on {connection.vendor} is not supported")


def prepare_writer(context: str, floors: Mapping[str, int]) -> dict[str, Any]:
    """Make this side ready to write the context: versions seeded, sequences advanced."""
    seeded = seed_versions(context)
    sequences = advance_sequences(context, floors)
    logger.warning("prepared to write %s: versions %s, sequences %s", context, seeded, sequences)
    return {"seeded_versions": seeded, "sequences": sequences}
