"""Replay: republish stored outbox events to one subscriber's queue only, in order, with confirms.

Messages go through the default exchange with the subscriber's queue name as routing key, so no
other subscriber's queue can receive them. Only the event types the subscriber is bound to are
sent. Batches are published and then confirmed as a whole; a refused batch stops the replay with
the id to continue from (--from-id), never skipping an event.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from strangler.outbox.models import OutboxEvent
from strangler.transport.base import OutgoingMessage, Subscription, Transport, TransportError
from strangler.transport.conf import configured_subscriptions
from strangler.transport.topology import topic_matches

logger = logging.getLogger(__name__)


class ReplayError(RuntimeError):
    """A replay cannot start or was interrupted; the message says where to continue."""


class UnknownSubscriber(ReplayError):
    """--to names a subscriber that STRANGLER_SUBSCRIPTIONS does not list."""


class UnknownEventType(ReplayError):
    """--type or --aggregate names nothing this side knows: a typo would replay nothing."""


@dataclass(frozen=True)
class ReplayFilter:
    """Which stored events to replay. Empty filters select everything the subscriber receives."""

    types: tuple[str, ...] = ()  # event types or topic patterns (catalog.product.*)
    aggregates: tuple[str, ...] = ()  # aggregate types (catalog.product) or one (catalog.product:7)
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until
    from_id: int | None = None  # outbox id >= from_id
    include_pending: bool = False  # also rows the relay has not published yet


@dataclass
class ReplayResult:
    """What a replay sent (or, with dry_run, would send)."""

    subscriber: str
    queue: str
    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    first_id: int | None = None
    last_id: int | None = None
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "subscriber": self.subscriber,
            "queue": self.queue,
            "dry_run": self.dry_run,
            "events": self.events,
            "by_type": dict(sorted(self.by_type.items())),
            "first_id": self.first_id,
            "last_id": self.last_id,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate, 1),
        }


def subscription_named(subscriber: str) -> Subscription:
    """The subscription of a subscriber (or of a queue name) from STRANGLER_SUBSCRIPTIONS."""
    subscriptions = configured_subscriptions()
    for subscription in subscriptions:
        if subscriber in (subscription.subscriber, subscription.queue):
            return subscription
    known = ", ".join(s.subscriber for s in subscriptions) or "none"
    raise UnknownSubscriber(
        f"unknown subscriber {subscriber!r}; STRANGLER_SUBSCRIPTIONS lists: {known}."
    )


def known_event_types() -> list[str]:
    """Event types this side knows: its contracts' and the ones stored in its outbox."""
    from strangler.contracts import registry

    try:
        declared = set(registry.event_types())
    except registry.ContractError:
        declared = set()
    stored = OutboxEvent.objects.order_by().values_list("event_type", flat=True).distinct()
    return sorted(declared | set(stored))


def check_filters(subscription: Subscription, filters: ReplayFilter) -> None:
    """Refuse a --type or --aggregate that matches no known event type, naming the known ones.

    Without this a misspelt type replays 0 events and looks like success.
    """
    known = known_event_types()
    bound = [t for t in known if any(topic_matches(k, t) for k in subscription.binding_keys)]
    for pattern in filters.types:
        if not any(topic_matches(pattern, event_type) for event_type in known):
            raise UnknownEventType(
                f"unknown event type {pattern!r}; {subscription.subscriber} receives: "
                f"{', '.join(bound) or 'none'}."
            )
    aggregates = sorted({t.rsplit(".", 1)[0] for t in known})
    for item in filters.aggregates:
        aggregate_type = item.partition(":")[0]
        if aggregate_type not in aggregates:
            raise UnknownEventType(
                f"unknown aggregate {aggregate_type!r}; known aggregates: "
                f"{', '.join(aggregates) or 'none'}."
            )


def replay_queryset(subscription: Subscription, filters: ReplayFilter) -> QuerySet[OutboxEvent]:
    """The stored events a replay sends, in outbox order (the order they were recorded)."""
    # Topic patterns cannot be expressed in SQL; the set of stored types is small, so match it.
    stored_types = OutboxEvent.objects.order_by().values_list("event_type", flat=True).distinct()
    wanted = [
        event_type
        for event_type in stored_types
        if any(topic_matches(key, event_type) for key in subscription.binding_keys)
        and (not filters.types or any(topic_matches(t, event_type) for t in filters.types))
    ]
    query = OutboxEvent.objects.filter(event_type__in=wanted)
    if not filters.include_pending:
        query = query.filter(published_at__isnull=False)
    if filters.aggregates:
        condition = Q()
        for item in filters.aggregates:
            aggregate_type, _, subject = item.partition(":")
            part = Q(aggregate_type=aggregate_type)
            if subject:
                part &= Q(subject=subject)
            condition |= part
        query = query.filter(condition)
    if filters.since is not None:
        query = query.filter(created_at__gte=filters.since)
    if filters.until is not None:
        query = query.filter(created_at__lt=filters.until)
    if filters.from_id is not None:
        query = query.filter(id__gte=filters.from_id)
    return query.order_by("id")


def replay_events(
    subscription: Subscription,
    filters: ReplayFilter,
    *,
    transport_factory: Callable[[], Transport],
    batch_size: int = 500,
    dry_run: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Publish the selected events to the subscriber's queue, batch by batch, with confirms."""
    check_filters(subscription, filters)
    query = replay_queryset(subscription, filters)
    result = ReplayResult(subscription.subscriber, subscription.queue, dry_run=dry_run)
    started = time.monotonic()
    if dry_run:
        for event_type, count in _count_by_type(query):
            result.by_type[event_type] = count
        result.events = sum(result.by_type.values())
        bounds = query.values_list("id", flat=True)
        result.first_id = bounds.first()
        result.last_id = bounds.last()
        result.seconds = time.monotonic() - started
        return result
    total = query.count()
    after = 0
    with transport_factory() as transport:
        while True:
            batch = list(query.filter(id__gt=after)[:batch_size])
            if not batch:
                break
            _publish(transport, subscription.queue, batch)
            after = batch[-1].pk
            result.first_id = result.first_id or batch[0].pk
            result.last_id = after
            result.events += len(batch)
            result.by_type.update(event.event_type for event in batch)
            if on_batch is not None:
                on_batch(len(batch), total)
    result.seconds = time.monotonic() - started
    logger.info(
        "replayed %s events to %s in %.2fs (%.0f/s)",
        result.events,
        subscription.queue,
        result.seconds,
        result.rate,
    )
    return result


def _count_by_type(query: QuerySet[OutboxEvent]) -> list[tuple[str, int]]:
    rows = query.order_by().values("event_type").annotate(n=Count("id"))
    return [(row["event_type"], row["n"]) for row in rows]


def _publish(transport: Transport, queue: str, batch: Sequence[OutboxEvent]) -> None:
    messages = [
        OutgoingMessage(
            message_id=str(event.event_id),
            routing_key=queue,
            message=event.to_envelope().to_message(),
            exchange="",
        )
        for event in batch
    ]
    try:
        outcomes = transport.publish_batch(messages)
    except TransportError as exc:
        raise ReplayError(
            f"the broker failed while replaying to {queue}: {exc}; nothing before outbox id "
            f"{batch[0].pk} is lost: run again with --from-id {batch[0].pk}."
        ) from exc
    refused = [o for o in outcomes if not o.confirmed]
    if refused:
        first = next(e.pk for e, o in zip(batch, outcomes, strict=True) if not o.confirmed)
        raise ReplayError(
            f"the broker refused {len(refused)} of {len(batch)} events for {queue} "
            f"({refused[0].error or 'nack'}); continue with --from-id {first}."
        )
