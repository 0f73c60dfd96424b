"""The inbox consumer: apply a batch in one transaction, ack after commit, isolate failures.

Failure handling, in the order it is decided:
- a message that is not a valid envelope, breaks its contract or has no handler is dead-lettered
  at once with the reason (it can never succeed);
- a batch whose transaction fails is rolled back and its messages applied one by one, each in its
  own transaction, so only the bad message fails;
- a failing message is republished to the tail of its queue with its attempt count and a
  not-before time (exponential backoff), and dead-lettered after MAX_ATTEMPTS
  (docs/adr/0003-inbox-retries-ordering-and-batching.md explains why, and why it works on both
  transports);
- a lost database connection is not the message's fault: the connection is closed, the consumer
  backs off and applies the same batch again, acking nothing until it commits.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    transaction,
)
from django.db import connection as db_connection

from strangler.contracts.envelope import Envelope, EnvelopeError, TransportMessage
from strangler.contracts.registry import ContractError
from strangler.inbox import metrics
from strangler.inbox.admission import MessageRefused
from strangler.inbox.conf import Handler, InboxSettings
from strangler.inbox.retries import (
    DeadLetterReason,
    RetryPolicy,
    attempts_of,
    carried_headers,
    dead_letter_headers,
    not_before_of,
    retry_headers,
)
from strangler.inbox.services import (
    AppliedEvent,
    Outcome,
    UnhandledEventType,
    apply_events,
    parse_event,
)
from strangler.transport.base import (
    Consumer,
    Delivery,
    OutgoingMessage,
    Transport,
    TransportError,
)

logger = logging.getLogger(__name__)

# Errors that say "the database connection is gone", not "this message is bad".
DATABASE_CONNECTION_ERRORS = (OperationalError, InterfaceError)
# Errors that say "this message can never be applied as it is".
INVALID_MESSAGE_ERRORS = (EnvelopeError, ContractError, UnhandledEventType, MessageRefused)
BROKER_ERRORS = (TransportError, OSError)
MAX_DATABASE_BACKOFF = 30.0
MAX_BROKER_BACKOFF = 30.0
PROGRESS_INTERVAL = 60.0  # seconds between progress lines of a long-running consumer
# After this long without a commit the database connection is checked before the next batch;
# between busy batches a dead connection fails the batch, which is applied again.
CONNECTION_CHECK_AFTER = 1.0


class ShutdownRequested(Exception):
    """Raised inside the loop when stop() was called while waiting for the database."""


@dataclass
class ConsumerStats:
    """What one run did: messages per outcome, batches committed."""

    outcomes: Counter[str] = field(default_factory=Counter)
    batches: int = 0

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def as_dict(self) -> dict[str, int]:
        return {**{o.value: self.outcomes[o.value] for o in Outcome}, "batches": self.batches}


@dataclass
class _Pending:
    delivery: Delivery
    not_before: float


class InboxConsumer:
    """Consume one subscription's queue until stop() (or, with once=True, until it is drained)."""

    def __init__(
        self,
        *,
        transport_factory: Callable[[], Transport],
        settings: InboxSettings,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self.settings = settings
        self.handlers = dict(handlers if handlers is not None else settings.handlers())
        self.transport_factory = transport_factory
        self.policy = RetryPolicy(
            settings.max_attempts, settings.retry_backoff, settings.retry_backoff_max
        )
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._delayed: list[_Pending] = []
        self._transport: Transport | None = None
        self._next_depth_check = 0.0
        self._next_progress = time.monotonic() + PROGRESS_INTERVAL
        self._last_commit = 0.0

    # -- lifecycle ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish the batch in flight and return; safe from a signal handler."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, once: bool = False) -> ConsumerStats:
        """Consume until stop(); with once=True return as soon as the queue is drained."""
        backoff = 0.5
        while not self.stopping:
            try:
                self._run_session(once=once)
                return self.stats
            except BROKER_ERRORS as exc:
                if once:
                    raise  # a drain that cannot reach the broker must say so, not wait forever
                logger.warning(
                    "broker connection failed; reconnecting",
                    extra={"queue": self.settings.queue, "error": str(exc), "backoff": backoff},
                )
                self._delayed.clear()  # unacked: the broker redelivers them to the next session
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BROKER_BACKOFF)
        return self.stats

    def _run_session(self, *, once: bool) -> None:
        transport = self.transport_factory()
        self._transport = transport
        try:
            transport.declare_subscription(self.settings.subscription)
            with transport.consumer(self.settings.queue, prefetch=self.settings.prefetch) as c:
                logger.info(
                    "inbox consumer started",
                    extra={"queue": self.settings.queue, "subscriber": self.settings.subscriber},
                )
                while not self.stopping:
                    drained = self.step(c)
                    if once and drained:
                        return
                self._release_delayed()
        finally:
            self._transport = None
            try:
                transport.close()
            except BROKER_ERRORS:
                logger.debug("closing the transport failed", exc_info=True)

    # -- one iteration ------------------------------------------------------------------------

    def step(self, consumer: Consumer) -> bool:
        """Fetch and process one batch; True when nothing was there and nothing is delayed."""
        self._refresh_dead_letter_depth()
        self._report_progress()
        batch = self._take_due()
        room = self.settings.batch_size - len(batch)
        fetched: list[Delivery] = []
        if room > 0:
            timeout = 0.0 if batch else self._fetch_timeout()
            fetched = consumer.fetch(room, timeout)
        now = time.time()
        for delivery in fetched:
            not_before = not_before_of(delivery.headers)
            if not_before > now:
                # A retry that is not due: hold it (unacked) and let the messages behind it pass.
                self._delayed.append(_Pending(delivery, not_before))
            else:
                batch.append(delivery)
        if not batch:
            return not fetched and not self._delayed
        self.process(consumer, batch)
        return False

    def _fetch_timeout(self) -> float:
        timeout = self.settings.fetch_timeout
        if self._delayed:
            due_in = min(p.not_before for p in self._delayed) - time.time()
            timeout = max(0.0, min(timeout, due_in))
        return timeout

    def _take_due(self) -> list[Delivery]:
        now = time.time()
        due = [p for p in self._delayed if p.not_before <= now][: self.settings.batch_size]
        if due:
            taken = {id(p) for p in due}
            self._delayed = [p for p in self._delayed if id(p) not in taken]
        return [p.delivery for p in due]

    def _release_delayed(self) -> None:
        """On shutdown, hand held retries back to the broker (they keep their headers)."""
        for pending in self._delayed:
            pending.delivery.reject(requeue=True)
        self._delayed.clear()

    def process(self, consumer: Consumer, deliveries: Sequence[Delivery]) -> None:
        """Validate, apply in one transaction, ack after commit; isolate failures."""
        valid: list[tuple[Delivery, Envelope]] = []
        for delivery in deliveries:
            try:
                envelope = parse_event(
                    delivery.headers,
                    delivery.content_type,
                    delivery.body,
                    self.handlers,
                    max_bytes=self.settings.max_message_bytes,
                )
            except INVALID_MESSAGE_ERRORS as exc:
                self._dead_letter(
                    delivery,
                    # MessageRefused names its own reason (too_large, subject_mismatch, ...).
                    reason=getattr(exc, "reason", DeadLetterReason.INVALID),
                    error=f"{type(exc).__name__}: {exc}",
                    attempts=attempts_of(delivery.headers) + 1,
                )
                continue
            valid.append((delivery, envelope))
        if not valid:
            return
        try:
            results = self._apply([envelope for _, envelope in valid])
        except ShutdownRequested:
            for delivery, _ in valid:
                delivery.reject(requeue=True)
            return
        except Exception as exc:
            if len(valid) == 1:
                self._failed(*valid[0], exc)
                return
            logger.info(
                "batch failed; applying its messages one by one",
                extra={"size": len(valid), "error": str(exc)},
            )
            self._apply_one_by_one(valid)
            return
        self._acknowledge(consumer, [d for d, _ in valid], results)

    def _apply_one_by_one(self, items: Sequence[tuple[Delivery, Envelope]]) -> None:
        for index, (delivery, envelope) in enumerate(items):
            try:
                results = self._apply([envelope])
            except ShutdownRequested:
                for rest, _ in items[index:]:
                    rest.reject(requeue=True)
                return
            except Exception as exc:
                self._failed(delivery, envelope, exc)
                continue
            self._acknowledge(None, [delivery], results)

    def _apply(self, envelopes: list[Envelope]) -> list[AppliedEvent]:
        """One transaction; retried (same events, nothing acked) while the database is away."""
        backoff = self.settings.database_retry_backoff
        while True:
            try:
                if time.monotonic() - self._last_commit > CONNECTION_CHECK_AFTER:
                    # Django's health check is a round trip: worth it after a pause only.
                    close_old_connections()
                with transaction.atomic():
                    results = apply_events(
                        envelopes, subscriber=self.settings.subscriber, handlers=self.handlers
                    )
                self._last_commit = time.monotonic()
                return results
            except DATABASE_CONNECTION_ERRORS as exc:
                # Operational errors are the server's state (gone, restarting, deadlock, locked
                # file), not the message's: wait and apply the same events again.
                logger.warning(
                    "database connection lost; retrying the batch",
                    extra={"error": str(exc), "backoff": backoff, "size": len(envelopes)},
                )
                _discard_connection()
                if self._stop.wait(backoff):
                    raise ShutdownRequested from exc
                backoff = min(backoff * 2, MAX_DATABASE_BACKOFF)

    # -- settling -----------------------------------------------------------------------------

    def _acknowledge(
        self,
        consumer: Consumer | None,
        deliveries: Sequence[Delivery],
        results: Sequence[AppliedEvent],
    ) -> None:
        """After the commit: ack, count, and observe the lag of what was applied."""
        if consumer is not None and len(deliveries) > 1:
            consumer.ack_many(deliveries)  # one frame on RabbitMQ when the window allows
        else:
            for delivery in deliveries:
                delivery.ack()
        self.stats.batches += 1
        now = datetime.now(UTC)
        lag = metrics.LAG.labels(self.settings.subscriber)
        counted: Counter[Outcome] = Counter()
        for result in results:
            counted[result.outcome] += 1
            if result.outcome is Outcome.APPLIED and result.envelope.time is not None:
                lag.observe(max((now - result.envelope.time).total_seconds(), 0.0))
        for outcome, count in counted.items():
            self._count(outcome, count)

    def _failed(self, delivery: Delivery, envelope: Envelope, exc: Exception) -> None:
        attempts = attempts_of(delivery.headers) + 1
        error = f"{type(exc).__name__}: {exc}"
        self._count(Outcome.FAILED)
        if self.policy.exhausted(attempts):
            logger.error(
                "event failed %s times; dead-lettering it",
                attempts,
                extra={"event_id": envelope.id, "type": envelope.type, "error": error},
            )
            self._dead_letter(
                delivery,
                reason=DeadLetterReason.ATTEMPTS_EXHAUSTED,
                error=error,
                attempts=attempts,
            )
            return
        logger.warning(
            "event failed; retrying later",
            extra={
                "event_id": envelope.id,
                "type": envelope.type,
                "attempt": attempts,
                "delay": self.policy.delay(attempts),
                "error": error,
            },
            exc_info=exc,
        )
        self._republish(
            delivery, self.settings.queue, retry_headers(attempts, error, self.policy), "retry"
        )

    def _dead_letter(self, delivery: Delivery, *, reason: str, error: str, attempts: int) -> None:
        original = str(delivery.headers.get("ce-type") or "")
        headers = dead_letter_headers(
            reason=reason,
            error=error,
            attempts=attempts,
            subscriber=self.settings.subscriber,
            queue=self.settings.queue,
            original_routing_key=original,
        )
        logger.error(
            "message dead-lettered",
            extra={"reason": reason, "error": error, "attempts": attempts, "type": original},
        )
        self._republish(delivery, self.settings.subscription.dead_letter_queue, headers, "dead")
        self._count(Outcome.DEAD_LETTERED)
        self._next_depth_check = 0.0

    def _republish(
        self, delivery: Delivery, queue: str, headers: Mapping[str, Any], what: str
    ) -> None:
        """Publish a copy to one of our queues (through our own exchange), confirmed, then ack.

        A crash between the two leaves both copies; the inbox makes the duplicate harmless.
        """
        transport = self._require_transport()
        carried = carried_headers(delivery.headers)
        text_headers = {k: v for k, v in carried.items() if isinstance(v, str)}
        extra = {k: v for k, v in carried.items() if not isinstance(v, str)}
        extra.update(headers)
        message = OutgoingMessage(
            message_id=str(delivery.headers.get("ce-id") or uuid.uuid4()),
            routing_key=queue,
            exchange=transport.subscriber_exchange(self.settings.subscriber),
            message=TransportMessage(
                text_headers, delivery.content_type or "application/json", bytes(delivery.body)
            ),
            extra_headers=extra,
        )
        (outcome,) = transport.publish_batch([message])
        if not outcome.confirmed:
            raise TransportError(f"the broker refused the {what} copy for {queue}: {outcome.error}")
        delivery.ack()

    def _require_transport(self) -> Transport:
        if self._transport is None:
            raise TransportError("the consumer is not connected to the broker")
        return self._transport

    def _count(self, outcome: Outcome, count: int = 1) -> None:
        self.stats.outcomes[outcome.value] += count
        metrics.EVENTS.labels(self.settings.subscriber, outcome.value).inc(count)

    def _report_progress(self) -> None:
        now = time.monotonic()
        if now < self._next_progress:
            return
        self._next_progress = now + PROGRESS_INTERVAL
        logger.info(
            "inbox progress: %s messages, %s",
            self.stats.total,
            ", ".join(f"{k} {v}" for k, v in sorted(self.stats.outcomes.items())) or "idle",
            extra={"queue": self.settings.queue, **self.stats.as_dict()},
        )

    def _refresh_dead_letter_depth(self) -> None:
        now = time.monotonic()
        if self._transport is None or now < self._next_depth_check:
            return
        self._next_depth_check = now + self.settings.dead_letter_depth_interval
        depth = self._transport.queue_depth(self.settings.subscription.dead_letter_queue)
        metrics.DEAD_LETTER_DEPTH.labels(self.settings.subscriber).set(depth)


def _discard_connection() -> None:
    """Throw the broken connection away; the next query opens a fresh one."""
    try:
        db_connection.close()
    except DatabaseError:
        logger.debug("closing the broken database connection failed", exc_info=True)
