"""The reading side of the copy phase: merge a copied chunk into the projection, resumably.

A chunk is merged in one transaction with its checkpoint (CopyRun.last_key), so a crash loses at
most the chunk in flight. The inbox may be applying events to the same projection meanwhile, so
the merge keeps the inbox's rule: a copied row is written only when its version is newer than the
projection's last applied version (ProjectionVersion, tombstones included); older copied rows are
skipped. The rows it writes seed ProjectionVersion with their version (rows no event touched yet,
version 0, need none), so the event stream that follows skips every event the copy already holds.

On PostgreSQL the merge first takes an EXCLUSIVE lock on the inbox's version table: a consumer
decides what to apply from that table (SELECT ... FOR UPDATE), so while a chunk merges no event
is decided on a state the merge is about to change, and the consumer waits for the merge (a
fraction of a second per chunk). The chunk goes by COPY into a temporary table and is merged from
there with two set-based statements. On SQLite the database-wide write lock does the same, and
the chunk is parsed and written with executemany.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connections, models, transaction
from django.utils import timezone

from strangler.db import upsert_rows
from strangler.sync.checksums import column_name
from strangler.sync.conf import AggregateSpec, SyncConfigurationError
from strangler.sync.copy_format import parse_rows
from strangler.sync.copy_source import CopyChunk
from strangler.sync.models import CopyRun

logger = logging.getLogger(__name__)


class CopyError(RuntimeError):
    """A copy cannot start or continue as asked; the message says what to do."""


@dataclass(frozen=True)
class MergeResult:
    """What merging one chunk did: rows written, and rows skipped as older than the projection."""

    written: int
    skipped: int


def uncovered_columns(spec: AggregateSpec) -> list[str]:
    """Columns of the projection the copy cannot fill: not compared, NOT NULL, no database default.

    The copy writes the key and the compared fields only; any other required column would make
    the insert fail halfway, so the command refuses to start instead.
    """
    meta = spec.model._meta
    filled = {meta.pk.attname, *(attname for _, attname in spec.columns)}
    return [
        field.column
        for field in meta.concrete_fields
        if field.attname not in filled
        and not field.null
        and getattr(field, "db_default", models.NOT_PROVIDED) is models.NOT_PROVIDED
    ]


def start_copy_run(
    spec: AggregateSpec, *, source: str, resume: bool, restart: bool, rate: float | None
) -> tuple[CopyRun, bool]:
    """The run to work on and whether it is resumed: a new one, or the unfinished one (with
    --resume, an aggregate whose copy already finished gives its done run, which needs no work)."""
    previous = (
        CopyRun.objects.filter(
            context=spec.context, aggregate=spec.name, status=CopyRun.Status.RUNNING
        )
        .order_by("-id")
        .first()
    )
    if resume:
        if previous is None:
            done = CopyRun.objects.filter(
                context=spec.context, aggregate=spec.name, status=CopyRun.Status.DONE
            ).first()
            if done is not None:
                return done, True  # finished before the crash: the caller skips it
            raise CopyError(f"no unfinished copy of {spec.label} to resume; run without --resume.")
        previous.rate_limit = rate
        previous.save(update_fields=["rate_limit"])
        return previous, True
    if previous is not None:
        if not restart:
            raise CopyError(
                f"a copy of {spec.label} (run {previous.pk}) stopped at key {previous.last_key} "
                f"after {previous.rows_done:,} rows; continue it with --resume, or start over "
                "with --restart."
            )
        previous.status = CopyRun.Status.ABANDONED
        previous.finished_at = timezone.now()
        previous.save(update_fields=["status", "finished_at"])
    now = timezone.now()
    run = CopyRun.objects.create(
        context=spec.context,
        aggregate=spec.name,
        source=source,
        rate_limit=rate,
        started_at=now,
        updated_at=now,
    )
    return run, False


def merge_chunk(
    spec: AggregateSpec, run: CopyRun, chunk: CopyChunk, *, using: str = "default"
) -> MergeResult:
    """Merge a chunk into the projection and move the run's checkpoint, in one transaction."""
    if chunk.signature != spec.signature:
        raise CopyError(
            f"{spec.label}: the writer sends the fields {chunk.signature}, this side compares "
            f"{spec.signature}; make the 'fields' of STRANGLER_SYNC equal on both sides."
        )
    connection = connections[using]
    with transaction.atomic(using=using):
        # The checkpoint row first: on SQLite this write takes the database's write lock before
        # anything is read, so no consumer commits between what the merge reads and writes.
        CopyRun.objects.using(using).filter(pk=run.pk).update(updated_at=timezone.now())
        if connection.vendor == "postgresql":
            result = _merge_postgres(spec, chunk, using)
        else:
            result = _merge_portable(spec, chunk, using)
        run.last_key = chunk.last_key if chunk.last_key is not None else run.last_key
        run.chunks += 1
        run.rows_done += result.written
        run.rows_skipped += result.skipped
        run.high_water = chunk.high_water
        if run.high_water_first is None:
            run.high_water_first = chunk.high_water
        run.updated_at = timezone.now()
        run.save(using=using)
    return result


def finish_copy_run(run: CopyRun) -> None:
    run.status = CopyRun.Status.DONE
    run.finished_at = run.updated_at = timezone.now()
    run.save(update_fields=["status", "finished_at", "updated_at"])


def _versions_table() -> str:
    from strangler.inbox.models import ProjectionVersion

    return ProjectionVersion._meta.db_table


def _merge_postgres(spec: AggregateSpec, chunk: CopyChunk, using: str) -> MergeResult:
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = spec.model._meta
    table = quote(meta.db_table)
    key = quote(meta.pk.column)
    columns = [quote(column_name(meta, attname)) for _, attname in spec.columns]
    stage = quote(f"strangler_copy_{meta.db_table}"[:63])
    versions = quote(_versions_table())
    listed = ", ".join([key, *columns])
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {versions} IN EXCLUSIVE MODE")
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
            f"SELECT {listed}, 0::bigint AS copy_version FROM {table} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {stage}")  # a caller's open transaction may have used it
        with cursor.copy(f"COPY {stage} FROM STDIN") as copy:
            copy.write(chunk.data)
        first_key = int(chunk.data[: chunk.data.index("\t")]) if chunk.rows else 0
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {key} BETWEEN %s AND %s) "
            f"OR EXISTS (SELECT 1 FROM {versions} WHERE projection = %s)",
            [first_key, chunk.last_key or first_key, spec.projection],
        )
        if not cursor.fetchone()[0]:
            # No row here in the chunk's key range and no version applied yet (the lock keeps
            # it so): every copied row is new, a plain insert does.
            cursor.execute(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {stage}")
            written, skipped = cursor.rowcount, 0
        else:
            # Older than (or as old as) what the projection already applied: not written.
            cursor.execute(
                f"DELETE FROM {stage} AS s USING {versions} AS v WHERE v.projection = %s "
                f"AND v.aggregate_id = s.{key}::text AND v.version >= s.copy_version",
                [spec.projection],
            )
            skipped = cursor.rowcount
            updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns)
            conflict = f"DO UPDATE SET {updates}" if columns else "DO NOTHING"
            cursor.execute(
                f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {stage} "
                f"ON CONFLICT ({key}) {conflict}"
            )
            written = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {versions} (projection, aggregate_id, version, deleted, updated_at) "
            f"SELECT %s, {key}::text, copy_version, false, now() FROM {stage} "
            "WHERE copy_version > 0 ON CONFLICT (projection, aggregate_id) DO UPDATE SET "
            "version = EXCLUDED.version, deleted = false, updated_at = EXCLUDED.updated_at",
            [spec.projection],
        )
    return MergeResult(written, skipped)


def _merge_portable(spec: AggregateSpec, chunk: CopyChunk, using: str) -> MergeResult:
    from strangler.inbox.models import ProjectionVersion

    kinds = [kind for _, kind in spec.fields]
    rows = list(parse_rows(chunk.data, kinds))
    known = dict(
        ProjectionVersion.objects.using(using)
        .filter(projection=spec.projection, aggregate_id__in=[str(key) for key, _, _ in rows])
        .values_list("aggregate_id", "version")
    )
    newer = [row for row in rows if row[2] > known.get(str(row[0]), -1)]
    meta = spec.model._meta
    fields = [meta.pk.attname, *(attname for _, attname in spec.columns)]
    upsert_rows(
        spec.model,
        fields,
        [(key, *values) for key, values, _ in newer],
        conflict=(meta.pk.attname,),
        update=fields[1:],
        using=using,
    )
    now = timezone.now()
    upsert_rows(
        ProjectionVersion,
        ("projection", "aggregate_id", "version", "deleted", "updated_at"),
        [(spec.projection, str(key), version, False, now) for key, _, version in newer if version],
        conflict=("projection", "aggregate_id"),
        update=("version", "deleted", "updated_at"),
        using=using,
    )
    return MergeResult(len(newer), len(rows) - len(newer))


def check_projection(spec: AggregateSpec) -> None:
    """Refuse to copy into a projection with required columns the copy cannot fill."""
    missing = uncovered_columns(spec)
    if missing:
        raise SyncConfigurationError(
            f"{spec.label}: the copy fills the key and the compared fields only, but "
            f"{spec.model_label} also requires {', '.join(missing)} (NOT NULL, no database "
            "default); give them a db_default or null=True, or fill this projection by backfill."
        )
