"""RabbitMQ through kombu/py-amqp: batched publisher confirms, mandatory routing, quorum queues."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import amqp
import kombu
from amqp import exceptions as amqp_errors

from strangler.transport.base import (
    Consumer,
    Delivery,
    OutgoingMessage,
    PublishOutcome,
    Subscription,
    Transport,
    TransportError,
)
from strangler.transport.conf import TransportSettings
from strangler.transport.wire import (
    EventMessage,
    coalesced_writes,
    drain_frames,
    read_ahead,
)

logger = logging.getLogger(__name__)

PERSISTENT = 2


class QueueNotFound(TransportError):
    """The queue does not exist on the broker (declare it with `manage.py setup_broker`)."""


class TopologyConflict(TransportError):
    """An exchange or queue exists with other arguments than the ones we declare."""


@dataclass
class _Batch:
    """Confirm bookkeeping of one published batch: delivery tag -> index of the message."""

    tags: dict[int, int] = field(default_factory=dict)
    settled: dict[int, tuple[bool, str]] = field(default_factory=dict)
    returned: dict[str, str] = field(default_factory=dict)  # message_id -> why unroutable
    floor: int = 0  # every tag below this one is settled (tags of a batch are consecutive)

    def settle(self, tag: int, multiple: bool, confirmed: bool, error: str) -> None:
        if not multiple:
            if tag in self.tags and tag not in self.settled:
                self.settled[tag] = (confirmed, error)
            return
        # `multiple` settles every tag up to this one: walk only the ones not yet walked, so a
        # batch of n messages costs O(n) whatever the broker's mix of single and multiple acks.
        start = max(self.floor, next(iter(self.tags), tag + 1))
        for t in range(start, tag + 1):
            if t in self.tags and t not in self.settled:
                self.settled[t] = (confirmed, error)
        self.floor = max(self.floor, tag + 1)

    @property
    def done(self) -> bool:
        return len(self.settled) == len(self.tags)


def queue_arguments(settings: TransportSettings, subscription: Subscription) -> dict[str, Any]:
    """x-arguments of a subscriber queue: type, delivery limit and dead-lettering to `.dead`."""
    queue = subscription.queue
    arguments: dict[str, Any] = {
        "x-queue-type": settings.queue_type,
        "x-dead-letter-exchange": settings.dead_letter_exchange_of(subscription.subscriber),
        "x-dead-letter-routing-key": f"{queue}.dead",
    }
    if settings.queue_type == "quorum":
        arguments["x-delivery-limit"] = settings.delivery_limit
        # Dead-letter at least once: a message is never dropped between the queue and `.dead`.
        arguments["x-dead-letter-strategy"] = "at-least-once"
        arguments["x-overflow"] = "reject-publish"
    return arguments


class RabbitMQTransport(Transport):
    """One AMQP connection, opened lazily; one confirm-mode channel for publishing."""

    def __init__(self, settings: TransportSettings) -> None:
        self.settings = settings
        self._connection: kombu.Connection | None = None
        self._publish_channel: amqp.Channel | None = None
        self._depth_channel: amqp.Channel | None = None
        self._next_tag = 1
        self._batch: _Batch | None = None
        self._declared_exchange = False

    # -- connection ---------------------------------------------------------------------------

    def _amqp(self) -> amqp.Connection:
        """The live py-amqp connection, connecting first if needed."""
        if self._connection is None:
            connection = kombu.Connection(
                self.settings.url,
                connect_timeout=self.settings.connect_timeout,
                heartbeat=self.settings.heartbeat,
            )
            try:
                connection.connect()
            except (*connection.connection_errors, OSError) as exc:
                connection.release()
                raise TransportError(f"cannot connect to RabbitMQ: {exc}") from exc
            read_ahead(connection.connection)
            self._connection = connection
        return self._connection.connection

    def _errors(self) -> tuple[type[BaseException], ...]:
        connection = self._connection or kombu.Connection(self.settings.url)
        return (
            *connection.connection_errors,
            *connection.channel_errors,
            OSError,
            amqp_errors.AMQPError,
        )

    def reset(self) -> None:
        """Drop the connection after a failure; the next call reconnects."""
        connection, self._connection = self._connection, None
        self._publish_channel = None
        self._depth_channel = None
        self._batch = None
        self._declared_exchange = False
        if connection is not None:
            try:
                connection.release()
            except self._errors():  # already broken; closing is best effort
                logger.debug("closing a broken RabbitMQ connection failed", exc_info=True)

    def close(self) -> None:
        self.reset()

    def _call(self, what: str, operation: Callable[[], Any]) -> Any:
        """Run a broker operation; connection failures become TransportError and reconnect."""
        try:
            return operation()
        except TransportError:
            raise
        except amqp_errors.PreconditionFailed as exc:
            self.reset()
            raise TopologyConflict(
                f"{what}: {exc.reply_text}. An existing exchange or queue has other arguments; "
                "delete it (or use the same QUEUE_TYPE/DELIVERY_LIMIT) and run setup_broker again."
            ) from exc
        except amqp_errors.NotFound as exc:
            self.reset()
            raise QueueNotFound(f"{what}: {exc.reply_text}; run `manage.py setup_broker`") from exc
        except self._errors() as exc:
            self.reset()
            raise TransportError(f"{what} failed: {exc!r}") from exc

    # -- publishing ---------------------------------------------------------------------------

    def _channel_for_publishing(self) -> amqp.Channel:
        if self._publish_channel is None:
            channel = self._amqp().channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            self._publish_channel = channel
            self._next_tag = 1
        if not self._declared_exchange:
            # A side owns its events exchange: declaring it (idempotently) means a fresh broker
            # answers "unroutable" rather than closing the channel for a missing exchange.
            self._publish_channel.exchange_declare(
                self.settings.own_exchange, "topic", durable=True, auto_delete=False
            )
            self._declared_exchange = True
        return self._publish_channel

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if self._batch is not None:
            self._batch.settle(delivery_tag, multiple, True, "")

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        if self._batch is not None:
            self._batch.settle(delivery_tag, multiple, False, "nacked by the broker")

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        # RabbitMQ sends basic.return before the basic.ack of the same message.
        if self._batch is not None:
            message_id = message.properties.get("message_id", "")
            self._batch.returned[message_id] = (
                f"unroutable: no queue bound to exchange {exchange!r} for key {routing_key!r}"
            )

    def publish_batch(
        self, messages: Sequence[OutgoingMessage], *, timeout: float | None = None
    ) -> list[PublishOutcome]:
        """Publish all messages, then drain confirms until each is acked, nacked or returned."""
        if not messages:
            return []
        timeout = self.settings.confirm_timeout if timeout is None else timeout
        return self._call("publishing to RabbitMQ", lambda: self._publish(messages, timeout))

    def _publish(self, messages: Sequence[OutgoingMessage], timeout: float) -> list[PublishOutcome]:
        channel = self._channel_for_publishing()
        batch = self._batch = _Batch()
        try:
            try:
                with coalesced_writes(self._amqp()):
                    self._send(channel, messages, batch)
            except BaseException:
                # Frames the broker never got are counted on the channel: start afresh.
                self.reset()
                raise
            deadline = time.monotonic() + timeout
            connection = self._amqp()
            while not batch.done:
                if drain_frames(connection, lambda: batch.done):
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    connection.drain_events(timeout=remaining)
                except TimeoutError:
                    break
            timed_out = not batch.done
            outcomes = []
            for tag, index in batch.tags.items():
                message_id = messages[index].message_id
                confirmed, error = batch.settled.get(tag, (False, "no confirm before the timeout"))
                if message_id in batch.returned:
                    confirmed, error = False, batch.returned[message_id]
                outcomes.append(PublishOutcome(message_id, confirmed, error))
        finally:
            self._batch = None
        if timed_out:
            # Late confirms would be misattributed on this channel; start a fresh connection.
            logger.warning("confirms missing after %.1fs; reconnecting", timeout)
            self.reset()
        return outcomes

    def _send(
        self, channel: amqp.Channel, messages: Sequence[OutgoingMessage], batch: _Batch
    ) -> None:
        """basic.publish every message (persistent, mandatory), numbering them for confirms."""
        for index, outgoing in enumerate(messages):
            message = EventMessage(
                outgoing.message.body,
                content_type=outgoing.message.content_type,
                delivery_mode=PERSISTENT,
                message_id=outgoing.message_id,
                application_headers=(
                    {**outgoing.message.headers, **outgoing.extra_headers}
                    if outgoing.extra_headers
                    else outgoing.message.headers
                ),
            )
            exchange = (
                self.settings.own_exchange if outgoing.exchange is None else outgoing.exchange
            )
            channel.basic_publish(
                message, exchange=exchange, routing_key=outgoing.routing_key, mandatory=True
            )
            batch.tags[self._next_tag] = index
            self._next_tag += 1

    # -- topology -----------------------------------------------------------------------------

    def declare_exchanges(self) -> None:
        """Declare this side's exchange and the exchange of every side it knows (see
        `_ensure_exchange`: an existing exchange of another side is only looked up)."""

        def declare() -> None:
            for side in self.settings.known_sides:
                exchange = self.settings.exchange_of(side)
                self._ensure_exchange(exchange, owned=exchange == self.settings.own_exchange)

        self._call("declaring the exchanges", declare)

    def _ensure_exchange(self, name: str, kind: str = "topic", *, owned: bool = False) -> None:
        """Declare an exchange of this side; of another side, declare it only when missing.

        Declaring needs the configure permission even when the exchange exists; a side's broker
        user has it on its own exchanges only, so another side's exchange is looked up
        passively first (that needs no permission) and declared only on a fresh broker, where
        the operator's account runs `setup_broker`.
        """
        if not owned:
            probe = self._amqp().channel()
            try:
                probe.exchange_declare(name, kind, passive=True)
                return
            except amqp_errors.NotFound:
                pass  # the broker closed the probe channel; declare it below
            finally:
                if probe.is_open:
                    probe.close()
        channel = self._amqp().channel()
        try:
            channel.exchange_declare(name, kind, durable=True, auto_delete=False)
        finally:
            if channel.is_open:
                channel.close()

    def declare_subscription(self, subscription: Subscription) -> None:
        self._call(f"declaring {subscription.queue}", lambda: self._declare(subscription))

    def _declare(self, subscription: Subscription) -> None:
        dlx = self.settings.dead_letter_exchange_of(subscription.subscriber)
        sources = self.settings.source_exchanges(subscription.binding_keys)
        self._ensure_exchange(dlx, "direct", owned=True)
        for exchange in sorted({exchange for exchange, _key in sources}):
            self._ensure_exchange(exchange, owned=exchange == self.settings.own_exchange)
        channel = self._amqp().channel()
        try:
            dead = subscription.dead_letter_queue
            channel.queue_declare(
                dead,
                durable=True,
                auto_delete=False,
                arguments={"x-queue-type": self.settings.queue_type},
            )
            channel.queue_bind(dead, dlx, routing_key=dead)
            channel.queue_declare(
                subscription.queue,
                durable=True,
                auto_delete=False,
                arguments=queue_arguments(self.settings, subscription),
            )
            # The subscriber's own exchange reaches its queue by name: retries and dead-letter
            # requeues go there, never through the default exchange (writing to it would let
            # a side write into any queue, docs/adr/0009).
            channel.queue_bind(subscription.queue, dlx, routing_key=subscription.queue)
            for exchange, key in sources:
                channel.queue_bind(subscription.queue, exchange, routing_key=key)
        finally:
            if channel.is_open:
                channel.close()

    def delete_subscription(self, subscription: Subscription) -> None:
        """Delete a subscription's queue and dead-letter queue (messages included)."""

        def delete() -> None:
            channel = self._amqp().channel()
            try:
                channel.queue_delete(subscription.queue)
                channel.queue_delete(subscription.dead_letter_queue)
            finally:
                if channel.is_open:
                    channel.close()

        self._call(f"deleting {subscription.queue}", delete)

    def queue_depth(self, queue: str) -> int:
        def depth() -> int:
            # One channel kept for these reads: a consumer asks every few seconds, and opening
            # and closing a channel each time costs two more round trips, which a broker busy
            # with a large drain answers slowly while the consumer's loop waits.
            if self._depth_channel is None or not self._depth_channel.is_open:
                self._depth_channel = self._amqp().channel()
            return int(self._depth_channel.queue_declare(queue, passive=True).message_count)

        return self._call(f"reading the depth of {queue}", depth)

    # -- consuming ----------------------------------------------------------------------------

    def consumer(self, queue: str, *, prefetch: int = 100) -> Consumer:
        return self._call(f"consuming {queue}", lambda: RabbitMQConsumer(self, queue, prefetch))


class RabbitMQDelivery(Delivery):
    """A message received from a queue; ack/reject go back on the channel it came on."""

    def __init__(self, message: amqp.Message, consumer: RabbitMQConsumer) -> None:
        self._message = message
        self._consumer = consumer
        self.headers = dict(message.properties.get("application_headers") or {})
        self.content_type = message.properties.get("content_type")
        body = message.body
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        self.redelivered = bool(message.delivery_info.get("redelivered"))
        self.delivery_tag: int = message.delivery_info["delivery_tag"]

    @property
    def delivery_count(self) -> int:
        """Earlier deliveries of this message (quorum queues count them in x-delivery-count)."""
        return int(self.headers.get("x-delivery-count", 1 if self.redelivered else 0))

    def ack(self) -> None:
        self._consumer._settle(
            lambda ch: ch.basic_ack(self.delivery_tag), "ack", {self.delivery_tag}
        )

    def reject(self, *, requeue: bool) -> None:
        self._consumer._settle(
            lambda ch: ch.basic_reject(self.delivery_tag, requeue), "reject", {self.delivery_tag}
        )


class RabbitMQConsumer(Consumer):
    """basic.consume with a prefetch window; fetch() drains what the broker pushed."""

    def __init__(self, transport: RabbitMQTransport, queue: str, prefetch: int) -> None:
        self._transport = transport
        self.queue = queue
        self._buffer: list[amqp.Message] = []
        self._outstanding: set[int] = set()  # delivered, not yet acked or rejected
        self._channel = transport._amqp().channel()
        self._channel.basic_qos(0, prefetch, False)
        self._tag = self._channel.basic_consume(queue, callback=self._buffer.append, no_ack=False)

    def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Wait up to timeout for a first message, then take what has already arrived."""
        deadline = time.monotonic() + timeout

        def drain() -> None:
            connection = self._transport._amqp()
            while len(self._buffer) < max_messages:
                if drain_frames(connection, lambda: len(self._buffer) >= max_messages):
                    continue
                remaining = 0.0 if self._buffer else deadline - time.monotonic()
                if remaining < 0:
                    return
                try:
                    connection.drain_events(timeout=remaining)
                except TimeoutError:
                    return

        self._transport._call(f"consuming {self.queue}", drain)
        taken, self._buffer[:] = self._buffer[:max_messages], self._buffer[max_messages:]
        deliveries = [RabbitMQDelivery(message, self) for message in taken]
        self._outstanding.update(d.delivery_tag for d in deliveries)
        return deliveries

    def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge several deliveries of this consumer in one frame (basic.ack multiple)."""
        tags = {d.delivery_tag for d in deliveries}  # type: ignore[attr-defined]
        if not tags:
            return
        highest = max(tags)
        if {t for t in self._outstanding if t <= highest} <= tags:
            # Every unsettled delivery up to `highest` is being acked: one frame says it all.
            self._settle(lambda ch: ch.basic_ack(highest, multiple=True), "ack", tags)
        else:
            for delivery in deliveries:
                delivery.ack()

    def _settle(self, operation: Callable[[amqp.Channel], Any], what: str, tags: set[int]) -> None:
        self._transport._call(f"{what} on {self.queue}", lambda: operation(self._channel))
        self._outstanding -= tags

    def close(self) -> None:
        try:
            if self._channel.is_open:
                self._channel.basic_cancel(self._tag)
                self._channel.close()
        except self._transport._errors():
            logger.debug("closing the consumer channel of %s failed", self.queue, exc_info=True)
