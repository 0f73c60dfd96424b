"""Dead letters of a consumer: list, show, requeue after a fix, purge.

The dead-letter queue is read through the transport: every message is fetched and held unacked,
then each is settled once: acked when purged or requeued (after its copy to the main queue is
confirmed), rejected back into the dead-letter queue otherwise. The dead-letter queue has no
delivery limit, so browsing never loses a message.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from strangler.contracts.envelope import TransportMessage
from strangler.inbox.retries import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    FAILED_AT_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER,
    QUEUE_HEADER,
    REASON_HEADER,
    SUBSCRIBER_HEADER,
    carried_headers,
)
from strangler.transport.base import (
    Delivery,
    OutgoingMessage,
    Subscription,
    Transport,
    TransportError,
)
from strangler.transport.conf import configured_subscriptions

logger = logging.getLogger(__name__)

FETCH_PAGE = 500
MAX_HELD = 65_535  # AMQP prefetch counts stop here: larger queues take several runs
REQUEUED_AT_HEADER = "x-strangler-requeued-at"
_DEAD_LETTER_HEADERS = frozenset(
    {
        REASON_HEADER,
        ERROR_HEADER,
        FAILED_AT_HEADER,
        ORIGINAL_ROUTING_KEY_HEADER,
        SUBSCRIBER_HEADER,
        QUEUE_HEADER,
    }
)


class DeadLetterError(RuntimeError):
    """The dead-letter queue cannot be read or changed as asked."""


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message: which event, why it failed, how often, when."""

    id: str
    type: str
    subject: str
    source: str
    reason: str
    error: str
    attempts: int
    failed_at: str
    queue: str
    headers: Mapping[str, Any]
    body: bytes

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> DeadLetter:
        headers = {_text(k): v for k, v in delivery.headers.items()}

        def header(name: str) -> str:
            value = headers.get(name, "")
            return _text(value) if value is not None else ""

        try:
            attempts = int(headers.get(ATTEMPTS_HEADER, 0))
        except (TypeError, ValueError):
            attempts = 0
        return cls(
            id=header("ce-id") or "(no ce-id)",
            type=header("ce-type") or header(ORIGINAL_ROUTING_KEY_HEADER),
            subject=header("ce-subject"),
            source=header("ce-source"),
            reason=header(REASON_HEADER),
            error=header(ERROR_HEADER),
            attempts=attempts,
            failed_at=header(FAILED_AT_HEADER),
            queue=header(QUEUE_HEADER),
            headers=headers,
            body=bytes(delivery.body),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "source": self.source,
            "reason": self.reason,
            "error": self.error,
            "attempts": self.attempts,
            "failed_at": self.failed_at,
            "queue": self.queue,
        }

    def details(self) -> dict[str, Any]:
        try:
            body: Any = json.loads(self.body)
        except ValueError:
            body = self.body.decode(errors="replace")
        headers = {k: _text(v) if isinstance(v, bytes) else v for k, v in self.headers.items()}
        return {**self.summary(), "headers": headers, "data": body}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class DeadLetterSelector:
    """Which dead letters an action takes: all of them, some ids, or some event types."""

    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    everything: bool = False

    def __post_init__(self) -> None:
        if not (self.everything or self.ids or self.types):
            raise DeadLetterError("say which dead letters: --all, --id ID or --type TYPE.")

    def __call__(self, letter: DeadLetter) -> bool:
        if self.everything:
            return True
        return letter.id in self.ids or letter.type in self.types


def consumer_subscription(name: str | None = None) -> Subscription:
    """The subscription whose dead letters to work on: by subscriber/queue name, or this side's.

    Without a name: the inbox of this process (STRANGLER_INBOX), else the only entry of
    STRANGLER_SUBSCRIPTIONS.
    """
    subscriptions = configured_subscriptions()
    if name:
        for subscription in subscriptions:
            if name in (subscription.subscriber, subscription.queue):
                return subscription
        known = ", ".join(s.subscriber for s in subscriptions) or "none"
        raise DeadLetterError(
            f"unknown subscriber {name!r}; STRANGLER_SUBSCRIPTIONS lists: {known}."
        )
    if getattr(settings, "STRANGLER_INBOX", None):
        from strangler.inbox.conf import inbox_settings

        return inbox_settings().subscription
    if len(subscriptions) == 1:
        return subscriptions[0]
    raise DeadLetterError(
        "this side consumes no queue, or several: name one with --subscriber "
        f"({', '.join(s.subscriber for s in subscriptions) or 'none configured'})."
    )


class _Held:
    """Messages fetched from a queue and not yet settled."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._acked: set[int] = set()

    def ack(self, delivery: Delivery) -> None:
        delivery.ack()
        self._acked.add(id(delivery))

    def unsettled(self) -> list[Delivery]:
        return [d for d in self.deliveries if id(d) not in self._acked]


@contextmanager
def _held(transport: Transport, queue: str, limit: int) -> Iterator[_Held]:
    """Fetch up to `limit` messages of a queue, unacked; what is not acked goes back at the end."""
    held = _Held()
    # The depth the broker reports may lag behind a publish that was just confirmed: it only
    # decides how long to wait for more, and the loop ends on an empty fetch.
    depth = transport.queue_depth(queue)
    wanted = min(limit, MAX_HELD)
    consumer = transport.consumer(queue, prefetch=wanted)
    try:
        while len(held.deliveries) < wanted:
            timeout = 2.0 if len(held.deliveries) < depth else 0.3
            page = consumer.fetch(min(FETCH_PAGE, wanted - len(held.deliveries)), timeout=timeout)
            if not page:
                break
            held.deliveries.extend(page)
        yield held
    finally:
        for delivery in held.unsettled():
            delivery.reject(requeue=True)
        consumer.close()


def list_dead_letters(
    transport: Transport, subscription: Subscription, *, limit: int = 100
) -> tuple[list[DeadLetter], int]:
    """Up to `limit` dead letters (oldest first) and the queue's depth; none is removed."""
    queue = subscription.dead_letter_queue
    depth = transport.queue_depth(queue)
    with _held(transport, queue, limit) as held:
        letters = [DeadLetter.from_delivery(d) for d in held.deliveries]
    return letters, depth


def find_dead_letter(transport: Transport, subscription: Subscription, event_id: str) -> DeadLetter:
    """The dead letter of one event id (its ce-id); DeadLetterError when it is not there."""
    with _held(transport, subscription.dead_letter_queue, MAX_HELD) as held:
        for delivery in held.deliveries:
            letter = DeadLetter.from_delivery(delivery)
            if letter.id == event_id:
                return letter
    raise DeadLetterError(f"no dead letter with id {event_id} in {subscription.dead_letter_queue}.")


def requeue_dead_letters(
    transport: Transport,
    subscription: Subscription,
    select: Callable[[DeadLetter], bool],
) -> list[DeadLetter]:
    """Move the selected dead letters back to the subscriber's queue, with fresh attempts.

    Each copy is confirmed by the broker before its dead letter is acked: a crash in between
    leaves a duplicate, which the inbox ignores, never a loss.
    """
    moved: list[DeadLetter] = []
    with _held(transport, subscription.dead_letter_queue, MAX_HELD) as held:
        chosen = [(d, DeadLetter.from_delivery(d)) for d in held.deliveries]
        chosen = [(d, letter) for d, letter in chosen if select(letter)]
        for start in range(0, len(chosen), FETCH_PAGE):
            page = chosen[start : start + FETCH_PAGE]
            outcomes = transport.publish_batch(
                [_requeue_message(transport, subscription, d, letter) for d, letter in page]
            )
            for (delivery, letter), outcome in zip(page, outcomes, strict=True):
                if not outcome.confirmed:
                    raise DeadLetterError(
                        f"the broker refused the requeued copy of {letter.id}: {outcome.error}; "
                        "it stays dead-lettered."
                    )
                held.ack(delivery)
                moved.append(letter)
    logger.info("requeued %s dead letters to %s", len(moved), subscription.queue)
    return moved


def _requeue_message(
    transport: Transport, subscription: Subscription, delivery: Delivery, letter: DeadLetter
) -> OutgoingMessage:
    # Through the subscriber's own exchange: its broker user may write there, not to the
    # default exchange (docs/adr/0009).
    exchange = transport.subscriber_exchange(subscription.subscriber)
    carried = {
        k: v
        for k, v in carried_headers(letter.headers).items()
        if k not in _DEAD_LETTER_HEADERS and k != ATTEMPTS_HEADER
    }
    text_headers = {k: v for k, v in carried.items() if isinstance(v, str)}
    extra: dict[str, Any] = {k: v for k, v in carried.items() if not isinstance(v, str)}
    extra[REQUEUED_AT_HEADER] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return OutgoingMessage(
        message_id=letter.id if letter.id != "(no ce-id)" else str(uuid.uuid4()),
        routing_key=letter.queue or subscription.queue,
        exchange=exchange,
        message=TransportMessage(
            text_headers, delivery.content_type or "application/json", letter.body
        ),
        extra_headers=extra,
    )


def purge_dead_letters(
    transport: Transport,
    subscription: Subscription,
    select: Callable[[DeadLetter], bool],
) -> list[DeadLetter]:
    """Remove the selected dead letters for good."""
    removed: list[DeadLetter] = []
    with _held(transport, subscription.dead_letter_queue, MAX_HELD) as held:
        for delivery in held.deliveries:
            letter = DeadLetter.from_delivery(delivery)
            if select(letter):
                held.ack(delivery)
                removed.append(letter)
    logger.warning("purged %s dead letters of %s", len(removed), subscription.queue)
    return removed


def dead_letter_count(transport: Transport, subscription: Subscription) -> int:
    try:
        return transport.queue_depth(subscription.dead_letter_queue)
    except TransportError as exc:
        raise DeadLetterError(f"cannot read {subscription.dead_letter_queue}: {exc}") from exc
