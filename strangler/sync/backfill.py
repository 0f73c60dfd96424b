"""Backfill: record a snapshot event for every existing row, in keyset batches, resumably.

Each batch is one transaction on the writer: lock the batch's rows (FOR UPDATE, so a concurrent
write either commits before the snapshot is read or waits for it), hand out the next aggregate
version of every row in one statement, insert the events in bulk and move the checkpoint. A crash
loses at most the uncommitted batch, which --resume records again; a snapshot carries a version
newer than any event before it, and a consumer skips versions it already has.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from strangler.contracts import registry
from strangler.observability import tracing
from strangler.observability.context import current_trace, trace_context
from strangler.outbox.conf import outbox_settings
from strangler.outbox.models import AggregateVersion, OutboxEvent
from strangler.outbox.services import partition_for
from strangler.sync.conf import AggregateSpec
from strangler.sync.models import BackfillRun

logger = logging.getLogger(__name__)

VERSION_ROWS_PER_STATEMENT = 300  # 3 parameters each: below SQLite's 999-variable floor


class BackfillError(RuntimeError):
    """A backfill cannot start or continue as asked; the message says what to do."""


@dataclass(frozen=True)
class BackfillResult:
    """The outcome of one backfill session of one aggregate."""

    aggregate: str
    run_id: int
    rows: int  # snapshot events recorded by this session
    rows_total: int  # rows of the whole run (this and earlier sessions)
    last_key: int | None
    seconds: float
    resumed: bool
    finished: bool

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "aggregate": self.aggregate,
            "run_id": self.run_id,
            "events": self.rows,
            "rows_total": self.rows_total,
            "last_key": self.last_key,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate, 1),
            "resumed": self.resumed,
            "finished": self.finished,
        }


def bump_versions(aggregate_type: str, aggregate_ids: Sequence[str]) -> dict[str, int]:
    """Increment the version of many aggregates in few statements; returns {id: new version}.

    Same upsert as record_event's counter, with many VALUES rows: the counter rows stay locked
    until the caller's transaction commits. Ids are sorted so two bulk callers lock in one order.
    """
    table = AggregateVersion._meta.db_table
    versions: dict[str, int] = {}
    ordered = sorted(set(aggregate_ids))
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), VERSION_ROWS_PER_STATEMENT):
            chunk = ordered[start : start + VERSION_ROWS_PER_STATEMENT]
            values = ", ".join(["(%s, %s, 1)"] * len(chunk))
            params: list[str] = []
            for aggregate_id in chunk:
                params += [aggregate_type, aggregate_id]
            cursor.execute(
                f"INSERT INTO {table} (aggregate_type, aggregate_id, version) VALUES {values} "
                "ON CONFLICT (aggregate_type, aggregate_id) "
                f"DO UPDATE SET version = {table}.version + 1 RETURNING aggregate_id, version",
                params,
            )
            versions.update((str(a), int(v)) for a, v in cursor.fetchall())
    return versions


def record_snapshots(event_type: str, snapshots: Sequence[tuple[str, Mapping[str, Any]]]) -> int:
    """Record one event per (subject, payload) in the current transaction, in bulk.

    The bulk sibling of strangler.outbox.record_event: same validation, versions, partitions and
    trace ids, one INSERT for all the events.
    """
    if not snapshots:
        return 0
    if not connection.in_atomic_block:
        raise BackfillError("record_snapshots must run inside transaction.atomic()")
    dataversion = registry.current_version(event_type)
    for _, data in snapshots:
        registry.validate(event_type, dataversion, data)
    conf = outbox_settings()
    aggregate_type = event_type.rsplit(".", 1)[0]
    versions = bump_versions(aggregate_type, [subject for subject, _ in snapshots])
    trace = current_trace()
    now = timezone.now()
    OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                event_id=uuid.uuid4(),
                event_type=event_type,
                source=conf.service_name,
                subject=subject,
                aggregate_type=aggregate_type,
                aggregate_version=versions[subject],
                partition=partition_for(aggregate_type, subject, conf.partitions),
                dataversion=dataversion,
                data=dict(data),
                correlation_id=trace.correlation_id or "",
                causation_id=trace.causation_id or "",
                traceparent=trace.traceparent or "",
                created_at=now,
            )
            for subject, data in snapshots
        ],
        batch_size=1000,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [conf.notify_channel])
    transaction.on_commit(_wake_local_relay)
    return len(snapshots)


def _wake_local_relay() -> None:
    from strangler.outbox.wakeup import wake

    wake()


def _snapshot_rows(spec: AggregateSpec, rows: Iterable[models.Model]) -> int:
    build = spec.snapshot()
    return record_snapshots(spec.event, [(str(row.pk), build(row)) for row in rows])


def backfill_ids(spec: AggregateSpec, ids: Sequence[int], *, batch_size: int = 1000) -> int:
    """Record fresh snapshots of the given rows (those that still exist); returns how many."""
    model = spec.model
    recorded = 0
    ordered = sorted(set(ids))
    with trace_context(correlation_id=f"backfill-ids-{uuid.uuid4()}"):
        for start in range(0, len(ordered), batch_size):
            chunk = ordered[start : start + batch_size]
            with transaction.atomic():
                rows = model._base_manager.select_for_update().filter(pk__in=chunk).order_by("pk")
                recorded += _snapshot_rows(spec, list(rows))
    return recorded


def unfinished_run(spec: AggregateSpec) -> BackfillRun | None:
    return (
        BackfillRun.objects.filter(
            context=spec.context, aggregate=spec.name, status=BackfillRun.Status.RUNNING
        )
        .order_by("-id")
        .first()
    )


def start_run(
    spec: AggregateSpec, *, resume: bool, restart: bool, rate: float | None
) -> tuple[BackfillRun, bool]:
    """The run to work on, and whether it is resumed: a new one, or the unfinished one."""
    previous = unfinished_run(spec)
    if resume:
        if previous is None:
            raise BackfillError(
                f"no unfinished backfill of {spec.label} to resume; run without --resume."
            )
        previous.rate_limit = rate
        previous.save(update_fields=["rate_limit"])
        return previous, True
    if previous is not None:
        if not restart:
            raise BackfillError(
                f"a backfill of {spec.label} (run {previous.pk}) stopped at key "
                f"{previous.last_key} after {previous.rows_done} rows; continue it with "
                "--resume, or start over with --restart."
            )
        previous.status = BackfillRun.Status.ABANDONED
        previous.finished_at = timezone.now()
        previous.save(update_fields=["status", "finished_at"])
    now = timezone.now()
    run = BackfillRun.objects.create(
        context=spec.context,
        aggregate=spec.name,
        rate_limit=rate,
        started_at=now,
        updated_at=now,
    )
    return run, False


@tracing.traced("strangler.backfill", lambda spec, *_, **__: {"strangler.aggregate": spec.name})
def run_backfill(
    spec: AggregateSpec,
    run: BackfillRun,
    *,
    batch_size: int,
    rate: float | None = None,
    resumed: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    max_batches: int | None = None,
) -> BackfillResult:
    """Snapshot every row after run.last_key, batch by batch, moving the checkpoint with each.

    `rate` caps events per second (the batch shrinks to it, and the loop sleeps to keep to it);
    `on_batch(recorded, total)` reports progress; `max_batches` stops early (the run stays
    resumable).
    """
    model = spec.model
    manager = model._base_manager
    remaining = manager.filter(pk__gt=run.last_key) if run.last_key is not None else manager.all()
    run.rows_total = run.rows_done + remaining.count()
    run.save(update_fields=["rows_total"])
    if rate is not None and rate > 0:
        batch_size = max(1, min(batch_size, int(rate)))
    started = time.monotonic()
    recorded = 0
    batches = 0
    finished = False
    with trace_context(correlation_id=f"backfill-{spec.label}-{run.pk}"):
        while max_batches is None or batches < max_batches:
            with transaction.atomic():
                query = manager.select_for_update().order_by("pk")
                if run.last_key is not None:
                    query = query.filter(pk__gt=run.last_key)
                rows = list(query[:batch_size])
                if not rows:
                    finished = True
                    run.status = BackfillRun.Status.DONE
                    run.finished_at = timezone.now()
                count = _snapshot_rows(spec, rows)
                if rows:
                    run.last_key = rows[-1].pk
                run.rows_done += count
                run.updated_at = timezone.now()
                run.save()
            if finished:
                break
            recorded += count
            batches += 1
            if on_batch is not None:
                on_batch(count, run.rows_total)
            if rate is not None and rate > 0:
                # Sleep until the session's average is back at the cap.
                ahead = recorded / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    seconds = time.monotonic() - started
    logger.info(
        "backfill of %s recorded %s events in %.1fs (run %s, last key %s)",
        spec.label,
        recorded,
        seconds,
        run.pk,
        run.last_key,
    )
    return BackfillResult(
        aggregate=spec.label,
        run_id=run.pk,
        rows=recorded,
        rows_total=run.rows_total,
        last_key=run.last_key,
        seconds=seconds,
        resumed=resumed,
        finished=finished,
    )
