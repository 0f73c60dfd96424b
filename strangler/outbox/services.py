"""Recording events: called by domain services inside their own database transaction."""

from __future__ import annotations

import contextlib
import logging
import uuid
import zlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from strangler.contracts import registry
from strangler.observability import tracing
from strangler.observability.context import current_trace
from strangler.outbox.bypass import note_event_recorded
from strangler.outbox.conf import outbox_settings
from strangler.outbox.models import AggregateVersion, OutboxEvent

logger = logging.getLogger(__name__)

_capture_suppressed: ContextVar[bool] = ContextVar("strangler_outbox_suppressed", default=False)


class OutboxUsageError(RuntimeError):
    """record_event was called where it cannot keep its promise (outside a transaction)."""


@contextlib.contextmanager
def outbox_capture_suppressed() -> Iterator[None]:
    """Writes inside this block record no events: used by sync handlers so events never echo."""
    token = _capture_suppressed.set(True)
    try:
        yield
    finally:
        _capture_suppressed.reset(token)


@contextlib.contextmanager
def outbox_capture_resumed() -> Iterator[None]:
    """Writes inside this block record their events again, even inside a sync handler.

    For a handler that performs a step of a saga as the writer of its own context (reserve the
    stock an order asks for): those writes are this side's own, not a copy of another side's,
    and their events (the step's answer) must be published.
    """
    token = _capture_suppressed.set(False)
    try:
        yield
    finally:
        _capture_suppressed.reset(token)


def capture_is_suppressed() -> bool:
    return _capture_suppressed.get()


def partition_for(aggregate_type: str, aggregate_id: str, partitions: int) -> int:
    """Stable partition of an aggregate (crc32, identical in every process and release)."""
    return zlib.crc32(f"{aggregate_type}:{aggregate_id}".encode()) % partitions


def next_aggregate_version(aggregate_type: str, aggregate_id: str) -> int:
    """Increment and return the aggregate's version; locks its counter row until commit."""
    table = AggregateVersion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (aggregate_type, aggregate_id, version) VALUES (%s, %s, 1) "
            "ON CONFLICT (aggregate_type, aggregate_id) "
            f"DO UPDATE SET version = {table}.version + 1 RETURNING version",
            [aggregate_type, aggregate_id],
        )
        return int(cursor.fetchone()[0])


def record_event(
    event_type: str,
    *,
    subject: str | int,
    data: Mapping[str, Any],
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> OutboxEvent | None:
    """Record one event in the current transaction; it is published only if the transaction commits.

    The payload is validated against the event type's newest schema here, in the writer's
    transaction, so an invalid event rolls the write back instead of poisoning consumers. Returns
    None when capture is suppressed (writes applied by a sync handler are never re-published).
    """
    if not connection.in_atomic_block:
        raise OutboxUsageError(
            f"record_event({event_type!r}) must be called inside transaction.atomic(), in the "
            "same transaction as the write it describes; outside one the event could be "
            "recorded without its write, or lost."
        )
    if capture_is_suppressed():
        return None
    version = registry.current_version(event_type)
    registry.validate(event_type, version, data)
    conf = outbox_settings()
    aggregate_type = event_type.rsplit(".", 1)[0]
    aggregate_id = str(subject)
    trace = current_trace()
    with tracing.span("strangler.record_event", kind="producer") as current:
        if current is not None:  # tracing is on
            current.set_attributes(
                {"cloudevents.event_type": event_type, "cloudevents.event_subject": aggregate_id}
            )
        event = OutboxEvent.objects.create(
            event_id=uuid.uuid4(),
            event_type=event_type,
            source=conf.service_name,
            subject=aggregate_id,
            aggregate_type=aggregate_type,
            aggregate_version=next_aggregate_version(aggregate_type, aggregate_id),
            partition=partition_for(aggregate_type, aggregate_id, conf.partitions),
            dataversion=version,
            data=dict(data),
            correlation_id=correlation_id or trace.correlation_id or "",
            causation_id=causation_id or trace.causation_id or "",
            traceparent=tracing.current_traceparent() or "",
            created_at=timezone.now(),
        )
    note_event_recorded(connection, aggregate_type, aggregate_id)
    if connection.vendor == "postgresql":
        # NOTIFY is transactional: the relay is woken exactly when this commit lands.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [conf.notify_channel])
    transaction.on_commit(_wake_local_relay)
    return event


def _wake_local_relay() -> None:
    """Wake an in-process relay thread, if one runs (the embedded demo); no-op otherwise."""
    from strangler.outbox.wakeup import wake

    wake()
