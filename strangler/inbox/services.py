"""Applying events: dedupe by event id, order by aggregate version, run the handler, record it."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import connection
from django.utils import timezone

from shared_contracts import registry
from shared_contracts.envelope import Envelope
from strangler.inbox.conf import Handler
from strangler.inbox.handlers import is_batch_handler
from strangler.inbox.models import InboxRecord, ProjectionVersion
from strangler.observability.context import trace_context
from strangler.outbox.services import outbox_capture_suppressed

logger = logging.getLogger(__name__)

STATE_TRANSFER_VERBS = frozenset({"upserted", "deleted"})
DELETE_VERB = "deleted"


class Outcome(StrEnum):
    """What became of one consumed message (the `outcome` label of the inbox metrics)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"


class InboxError(RuntimeError):
    """Base class of the inbox's own errors."""


class UnhandledEventType(InboxError):
    """No handler is registered for an event type this subscriber received."""


class InboxUsageError(InboxError):
    """apply_events ran outside a transaction: the inbox row and the writes must commit together."""


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    """The result of applying one event inside a transaction."""

    envelope: Envelope
    outcome: Outcome


def is_state_transfer(envelope: Envelope) -> bool:
    """`...upserted` / `...deleted` events carry full state and are ordered by aggregate version."""
    verb = envelope.type.rsplit(".", 1)[-1]
    return (
        verb in STATE_TRANSFER_VERBS
        and envelope.aggregateversion is not None
        and bool(envelope.subject)
    )


def parse_event(
    headers: Mapping[str, Any],
    content_type: str | None,
    body: bytes | str,
    handlers: Mapping[str, Handler],
) -> Envelope:
    """Envelope of a message, validated against its contract and upcast to the newest version.

    Raises EnvelopeError, ContractError or UnhandledEventType: each means the message can never
    be applied as it is, so the consumer dead-letters it at once.
    """
    envelope = Envelope.from_message(headers, content_type, body)
    envelope = registry.validate_and_upcast(envelope)
    if envelope.type not in handlers:
        raise UnhandledEventType(
            f"no handler is registered for {envelope.type!r}; registered: "
            f"{', '.join(sorted(handlers)) or 'none'}"
        )
    return envelope


def apply_events(
    envelopes: Sequence[Envelope],
    *,
    subscriber: str,
    handlers: Mapping[str, Handler],
) -> list[AppliedEvent]:
    """Apply validated events, in order, inside the caller's transaction; one result per event.

    A known event id is a duplicate and changes nothing. A state-transfer event whose aggregate
    version is not newer than the projection's last applied version (live or tombstone) is stale:
    recorded, never applied. Everything else runs its handler with outbox capture suppressed (the
    writes of a sync handler are never re-published) and the event id as causation id; a batch
    handler (@batch_handler) gets each run of consecutive events of its type in one call. Handler
    exceptions propagate: the caller rolls the transaction back and decides about retries.
    """
    if not connection.in_atomic_block:
        raise InboxUsageError(
            "apply_events must run inside transaction.atomic(): the inbox record and the "
            "handler's writes commit together or not at all."
        )
    if not envelopes:
        return []
    known = _known_event_keys(subscriber, envelopes)
    versions = _projection_versions(envelopes)
    changed_versions: dict[tuple[str, str], ProjectionVersion] = {}
    to_apply: list[Envelope] = []
    records: list[InboxRecord] = []
    results: list[AppliedEvent] = []
    now = timezone.now()
    # Decide every event first (the decisions depend on versions, never on a handler's writes),
    # then run the handlers over the events to apply, in delivery order.
    for envelope in envelopes:
        key = (envelope.source, envelope.id)
        if key in known:
            results.append(AppliedEvent(envelope, Outcome.DUPLICATE))
            continue
        known.add(key)
        outcome = Outcome.APPLIED
        if is_state_transfer(envelope):
            aggregate = (envelope.aggregate_type, str(envelope.subject))
            current = versions.get(aggregate)
            if current is not None and envelope.aggregateversion <= current.version:
                outcome = Outcome.STALE
            else:
                if current is None:
                    current = ProjectionVersion(projection=aggregate[0], aggregate_id=aggregate[1])
                    versions[aggregate] = current
                current.version = envelope.aggregateversion
                current.deleted = envelope.type.rsplit(".", 1)[-1] == DELETE_VERB
                current.updated_at = now
                changed_versions[aggregate] = current
        if outcome is Outcome.APPLIED:
            to_apply.append(envelope)
        records.append(_inbox_record(subscriber, envelope, outcome, now))
        results.append(AppliedEvent(envelope, outcome))
    _run_handlers(handlers, to_apply)
    _save_versions(changed_versions.values())
    applied_at = timezone.now()  # as close to the commit as we can get: the lag metric uses it
    for record in records:
        record.applied_at = applied_at
    InboxRecord.objects.bulk_create(records)
    return results


def _run_handlers(handlers: Mapping[str, Handler], envelopes: Sequence[Envelope]) -> None:
    """Per-event handlers once per event; batch handlers once per run of consecutive events of
    their type (runs keep the order between types, e.g. a delete after an upsert of a row)."""
    for event_type, run in itertools.groupby(envelopes, key=lambda e: e.type):
        handler = handlers[event_type]
        if is_batch_handler(handler):
            _run_batch_handler(handler, list(run))
        else:
            for envelope in run:
                _run_handler(handler, envelope)


def _run_handler(handler: Handler, envelope: Envelope) -> None:
    with (
        outbox_capture_suppressed(),
        trace_context(
            correlation_id=envelope.correlationid or envelope.id,
            causation_id=envelope.id,
            traceparent=envelope.traceparent,
        ),
    ):
        handler(envelope)


def _run_batch_handler(handler: Handler, envelopes: list[Envelope]) -> None:
    if len(envelopes) == 1:
        first = envelopes[0]
        context = trace_context(
            correlation_id=first.correlationid or first.id,
            causation_id=first.id,
            traceparent=first.traceparent,
        )
    else:
        # Many causes: name the correlation only when the whole run shares it.
        correlations = {e.correlationid or e.id for e in envelopes}
        common = correlations.pop() if len(correlations) == 1 else None
        context = trace_context(correlation_id=common)
    with outbox_capture_suppressed(), context:
        handler(envelopes)


def _known_event_keys(subscriber: str, envelopes: Sequence[Envelope]) -> set[tuple[str, str]]:
    rows = InboxRecord.objects.filter(
        subscriber=subscriber, event_id__in={e.id for e in envelopes}
    ).values_list("source", "event_id")
    return set(rows)


def _projection_versions(envelopes: Sequence[Envelope]) -> dict[tuple[str, str], ProjectionVersion]:
    """Current versions of the batch's aggregates, row-locked (PostgreSQL) until commit."""
    wanted = {(e.aggregate_type, str(e.subject)) for e in envelopes if is_state_transfer(e)}
    if not wanted:
        return {}
    rows = ProjectionVersion.objects.select_for_update().filter(
        projection__in={p for p, _ in wanted}, aggregate_id__in={a for _, a in wanted}
    )
    return {
        (row.projection, row.aggregate_id): row
        for row in rows
        if (row.projection, row.aggregate_id) in wanted
    }


def _save_versions(rows: Any) -> None:
    """All changed versions in one INSERT ... ON CONFLICT DO UPDATE (the rows are locked)."""
    fresh = [
        ProjectionVersion(
            projection=row.projection,
            aggregate_id=row.aggregate_id,
            version=row.version,
            deleted=row.deleted,
            updated_at=row.updated_at,
        )
        for row in rows
    ]
    if fresh:
        ProjectionVersion.objects.bulk_create(
            fresh,
            update_conflicts=True,
            unique_fields=["projection", "aggregate_id"],
            update_fields=["version", "deleted", "updated_at"],
        )


def _inbox_record(subscriber: str, envelope: Envelope, outcome: Outcome, now: Any) -> InboxRecord:
    return InboxRecord(
        subscriber=subscriber,
        source=envelope.source,
        event_id=envelope.id,
        type=envelope.type,
        aggregate=str(envelope.subject or ""),
        version=envelope.aggregateversion,
        outcome=outcome.value,
        event_time=envelope.time,
        applied_at=now,
    )
