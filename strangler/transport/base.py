"""The one broker interface of strangler-kit (RabbitMQ or embedded, both through kombu)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strangler.contracts.envelope import TransportMessage

if TYPE_CHECKING:
    from strangler.transport.conf import TransportSettings


class TransportError(RuntimeError):
    """The broker could not be reached or refused an operation; safe to retry later."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to publish. `routing_key` is the event type for the events exchange.

    With `exchange=Transport.subscriber_exchange(subscriber)` the routing key is one of that
    subscriber's queue names: that is how retries and dead letters address exactly one queue.
    The default exchange (`exchange=""`) does the same for any queue; only an operator's account
    may write to it (replay), a side's broker user may not (docs/adr/0009).
    """

    message_id: str
    routing_key: str
    message: TransportMessage
    exchange: str | None = None  # None: this side's events exchange
    extra_headers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What the broker said about one message: confirmed, or why not (nack, unroutable)."""

    message_id: str
    confirmed: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscriber's durable queue, the event types bound to it, and its dead-letter queue."""

    subscriber: str  # e.g. "catalog-service"
    queue: str  # e.g. "catalog-service.events"
    binding_keys: tuple[str, ...]  # topic patterns, e.g. ("catalog.#",)

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dead"


class Delivery(abc.ABC):
    """One received message; settle it exactly once with ack or reject."""

    headers: Mapping[str, Any]
    content_type: str | None
    body: bytes
    redelivered: bool

    @property
    def delivery_count(self) -> int:
        """Earlier deliveries of this message (0 on the first); transports may know better."""
        return 1 if self.redelivered else 0

    @abc.abstractmethod
    def ack(self) -> None: ...

    @abc.abstractmethod
    def reject(self, *, requeue: bool) -> None: ...


class Consumer(abc.ABC):
    """A pull-style consumer over one queue with a prefetch window."""

    @abc.abstractmethod
    def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Up to max_messages deliveries; returns early (possibly empty) after timeout seconds."""

    def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge several deliveries of this consumer (transports may do it in one frame)."""
        for delivery in deliveries:
            delivery.ack()

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport(abc.ABC):
    """Publish with confirms, declare topology idempotently, consume. One per process/thread."""

    settings: TransportSettings

    def subscriber_exchange(self, subscriber: str) -> str:
        """The subscriber's own direct exchange: routing key = one of its queues' names."""
        return self.settings.dead_letter_exchange_of(subscriber)

    @abc.abstractmethod
    def publish_batch(
        self, messages: Sequence[OutgoingMessage], *, timeout: float | None = None
    ) -> list[PublishOutcome]:
        """Publish every message, then wait for all confirms; one outcome per message, in order.

        timeout None means STRANGLER_TRANSPORT['CONFIRM_TIMEOUT']. Unroutable (no queue bound),
        nacked and unconfirmed messages come back with confirmed=False and the reason. Raises
        TransportError when the connection fails (no outcome is then trusted).
        """

    def declare_exchanges(self) -> None:
        """Declare this side's events exchange and those of the sides it knows; idempotent."""
        raise NotImplementedError(f"{type(self).__name__} cannot declare exchanges")

    @abc.abstractmethod
    def declare_subscription(self, subscription: Subscription) -> None:
        """Declare the subscriber's exchange, queue and dead-letter queue, and bind the queue to
        the exchanges of the sides that may write what it subscribes to; idempotent."""

    @abc.abstractmethod
    def consumer(self, queue: str, *, prefetch: int = 100) -> Consumer: ...

    def delete_subscription(self, subscription: Subscription) -> None:
        """Delete a subscription's queue and dead-letter queue, messages included."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete subscriptions")

    @abc.abstractmethod
    def queue_depth(self, queue: str) -> int:
        """Messages ready in a queue (for status and dead-letter depth)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


TransportFactory = Callable[[], Transport]
