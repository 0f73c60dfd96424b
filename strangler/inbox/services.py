"""Applying events: dedupe by event id, order by aggregate version, run the handler, record it."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from django.db import connection
from django.utils import timezone

from strangler.contracts import registry
from strangler.contracts.envelope import Envelope
from strangler.db import prepared_cursor, upsert_rows
from strangler.inbox import admission
from strangler.inbox.conf import Handler
from strangler.inbox.handlers import is_batch_handler
from strangler.inbox.models import InboxRecord, ProjectionVersion
from strangler.observability import tracing
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
    *,
    max_bytes: int | None = None,
) -> Envelope:
    """Envelope of a message, validated against its contract and upcast to the newest version.

    Raises EnvelopeError, ContractError, UnhandledEventType or MessageRefused (over `max_bytes`,
    checked before parsing; a subject that is not the data's id; a source that may not write the
    event's context): each means the message can never be applied as it is, so the consumer
    dead-letters it at once.
    """
    if max_bytes is not None:
        admission.check_size(body, max_bytes)
    envelope = Envelope.from_message(headers, content_type, body)
    envelope = registry.validate_and_upcast(envelope)
    if envelope.type not in handlers:
        raise UnhandledEventType(
            f"no handler is registered for {envelope.type!r}; registered: "
            f"{', '.join(sorted(handlers)) or 'none'}"
        )
    admission.check_subject(envelope, state_transfer=is_state_transfer(envelope))
    admission.check_source(envelope)
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
    with tracing.batch_span(
        "strangler.inbox.apply",
        (envelope.traceparent for envelope in envelopes),
        kind="consumer",
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": subscriber,
            "messaging.batch.message_count": len(envelopes),
        },
    ):
        return _apply_events(envelopes, subscriber=subscriber, handlers=handlers)


def _apply_events(
    envelopes: Sequence[Envelope], *, subscriber: str, handlers: Mapping[str, Handler]
) -> list[AppliedEvent]:
    now = timezone.now()
    recorded, versions = _record_and_lock(subscriber, envelopes, now)
    fresh: dict[tuple[str, str], Envelope] = {}
    first: set[int] = set()  # positions of the first delivery of each new event
    for position, envelope in enumerate(envelopes):
        key = (envelope.source, envelope.id)
        if key in recorded and key not in fresh:
            fresh[key] = envelope  # any later delivery of the same event is a copy
            first.add(position)
    changed: dict[tuple[str, str], tuple[int, bool]] = {}
    stale: set[tuple[str, str]] = set()
    to_apply: list[Envelope] = []
    # Decide every event first (the decisions depend on versions, never on a handler's writes),
    # then run the handlers over the events to apply, in delivery order.
    for key, envelope in fresh.items():
        if is_state_transfer(envelope):
            aggregate = (envelope.aggregate_type, str(envelope.subject))
            current = versions.get(aggregate)
            if current is not None and envelope.aggregateversion <= current:
                stale.add(key)
                continue
            versions[aggregate] = envelope.aggregateversion
            deleted = envelope.type.rsplit(".", 1)[-1] == DELETE_VERB
            changed[aggregate] = (envelope.aggregateversion, deleted)
        to_apply.append(envelope)
    _run_handlers(handlers, to_apply)
    _save_versions(changed, now)
    _mark_stale(subscriber, stale)
    results: list[AppliedEvent] = []
    for position, envelope in enumerate(envelopes):
        key = (envelope.source, envelope.id)
        if position not in first:
            results.append(AppliedEvent(envelope, Outcome.DUPLICATE))
        else:
            outcome = Outcome.STALE if key in stale else Outcome.APPLIED
            results.append(AppliedEvent(envelope, outcome))
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


_RECORD_FIELDS = (
    "subscriber",
    "source",
    "event_id",
    "type",
    "aggregate",
    "version",
    "outcome",
    "event_time",
    "applied_at",
)


def _record_and_lock(
    subscriber: str, envelopes: Sequence[Envelope], now: Any
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], int]]:
    """Record the new events (see _record_new_events) and lock the versions of their
    aggregates (see _locked_versions): the new (source, id) keys, and the versions found.

    On PostgreSQL both are one statement, one round trip per batch: the insert's RETURNING
    names the new events, and the locking select reads it to lock exactly their aggregates.
    """
    if connection.vendor != "postgresql":
        recorded = _record_new_events(subscriber, envelopes, now)
        fresh = {(e.source, e.id): e for e in envelopes if (e.source, e.id) in recorded}
        return recorded, _locked_versions(fresh.values())
    applied_at = now.isoformat()
    rows = [
        (
            subscriber,
            envelope.source,
            envelope.id,
            envelope.type,
            str(envelope.subject or ""),
            envelope.aggregateversion,
            Outcome.APPLIED.value,
            None if envelope.time is None else envelope.time.isoformat(),
            applied_at,
        )
        for envelope in envelopes
    ]
    aggregates = [
        (envelope.source, envelope.id, envelope.aggregate_type, str(envelope.subject))
        for envelope in envelopes
        if is_state_transfer(envelope)
    ]
    recorded: set[tuple[str, str]] = set()
    versions: dict[tuple[str, str], int] = {}
    with prepared_cursor(connection) as (cursor, prepare):
        cursor.execute(
            _record_and_lock_sql(), [json.dumps(rows), json.dumps(aggregates)], **prepare
        )
        for kind, first, second, version in cursor.fetchall():
            if kind == 0:
                recorded.add((first, second))
            else:
                versions[(first, second)] = version
    return recorded, versions


@lru_cache(maxsize=1)
def _record_and_lock_sql() -> str:
    """PostgreSQL: insert the inbox rows, then lock the versions of the recorded events'
    aggregates; rows (0, source, event_id, NULL) per new event, (1, projection, aggregate,
    version) per version found. A data-modifying CTE runs to completion, and its RETURNING
    is what the locking select joins, so duplicates lock nothing (as two statements did)."""
    quote = connection.ops.quote_name
    inbox = quote(InboxRecord._meta.db_table)
    versions = quote(ProjectionVersion._meta.db_table)
    columns = ", ".join(quote(InboxRecord._meta.get_field(name).column) for name in _RECORD_FIELDS)
    return f"""
        WITH recorded AS (
            INSERT INTO {inbox} ({columns})
            SELECT r->>0, r->>1, r->>2, r->>3, r->>4, (r->>5)::bigint, r->>6,
                   (r->>7)::timestamptz, (r->>8)::timestamptz
            FROM jsonb_array_elements(%s::jsonb) AS r
            ON CONFLICT (subscriber, source, event_id) DO NOTHING
            RETURNING source, event_id
        ), locked AS (
            SELECT v.projection, v.aggregate_id, v.version FROM {versions} v
            WHERE (v.projection, v.aggregate_id) IN (
                SELECT a->>2, a->>3 FROM jsonb_array_elements(%s::jsonb) AS a
                JOIN recorded ON recorded.source = a->>0 AND recorded.event_id = a->>1
            )
            FOR UPDATE OF v
        )
        SELECT 0, source, event_id, NULL::bigint FROM recorded
        UNION ALL
        SELECT 1, projection, aggregate_id, version FROM locked
    """


def _record_new_events(
    subscriber: str, envelopes: Sequence[Envelope], now: Any
) -> set[tuple[str, str]]:
    """Insert an inbox row per event unless its (source, id) is known; the new keys.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING both dedupes and records: a redelivered or
    replayed event hits the unique key and comes back as nothing. Rows start as `applied`;
    `_mark_stale` corrects the (rare) stale ones before the commit.
    """
    rows = [
        (
            subscriber,
            envelope.source,
            envelope.id,
            envelope.type,
            str(envelope.subject or ""),
            envelope.aggregateversion,
            Outcome.APPLIED.value,
            envelope.time,
            now,
        )
        for envelope in envelopes
    ]
    inserted = upsert_rows(
        InboxRecord,
        _RECORD_FIELDS,
        rows,
        conflict=("subscriber", "source", "event_id"),
        returning=("source", "event_id"),
    )
    return {(source, event_id) for source, event_id in inserted}


def _locked_versions(envelopes: Iterable[Envelope]) -> dict[tuple[str, str], int]:
    """Current versions of the events' aggregates, row-locked (PostgreSQL) until commit."""
    wanted = {(e.aggregate_type, str(e.subject)) for e in envelopes if is_state_transfer(e)}
    if not wanted:
        return {}
    rows = (
        ProjectionVersion.objects.select_for_update()
        .filter(projection__in={p for p, _ in wanted}, aggregate_id__in={a for _, a in wanted})
        .values_list("projection", "aggregate_id", "version")
    )
    return {
        (projection, aggregate): version
        for projection, aggregate, version in rows
        if (projection, aggregate) in wanted
    }


def _save_versions(changed: Mapping[tuple[str, str], tuple[int, bool]], now: Any) -> None:
    """All changed versions in one INSERT ... ON CONFLICT DO UPDATE (the rows are locked)."""
    upsert_rows(
        ProjectionVersion,
        ("projection", "aggregate_id", "version", "deleted", "updated_at"),
        [
            (projection, aggregate, version, deleted, now)
            for (projection, aggregate), (version, deleted) in changed.items()
        ],
        conflict=("projection", "aggregate_id"),
        update=("version", "deleted", "updated_at"),
    )


def _mark_stale(subscriber: str, keys: set[tuple[str, str]]) -> None:
    by_source: dict[str, list[str]] = {}
    for source, event_id in keys:
        by_source.setdefault(source, []).append(event_id)
    for source, event_ids in by_source.items():
        InboxRecord.objects.filter(
            subscriber=subscriber, source=source, event_id__in=event_ids
        ).update(outcome=Outcome.STALE.value)
