"""The outbox relay: claim pending rows by partition, publish with batched confirms, mark them."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from uuid import UUID

from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from strangler.contracts import registry
from strangler.contracts.envelope import JSON_CONTENT_TYPE, attribute_strings, binary_message
from strangler.db import prepared_cursor
from strangler.observability import tracing
from strangler.outbox import wakeup
from strangler.outbox.conf import OutboxSettings, outbox_settings
from strangler.outbox.metrics import (
    PUBLISH_DURATION,
    PUBLISH_FAILURES,
    PUBLISHED_EVENTS,
    failure_reason,
)
from strangler.outbox.models import OutboxEvent, OutboxPartition
from strangler.outbox.selectors import refresh_backlog_gauges
from strangler.transport import get_transport
from strangler.transport.base import OutgoingMessage, PublishOutcome, Transport, TransportError

logger = logging.getLogger(__name__)

EVENTS = OutboxEvent._meta.db_table
GAUGE_INTERVAL = 1.0  # seconds between refreshes of the backlog gauges, at least
# Seconds a relay's per-partition floors are trusted before one claim probes from the start
# again (see OutboxRelay._floors): the most a row committed late is delayed.
FLOOR_RESET = 1.0
# Seconds from the start of a batch that was not full before the next claim: a trickle gathers
# into batches of tens of events instead of a few. Without it a relay whose cycle got cheaper
# (prepared statements, floors) ran more, smaller batches, and the relay, the broker and the
# consumer spent more CPU per event (at 3,000 events/s 548 µs per event in all with 10 ms, 478
# with 20 ms); at the same rate the lag's p99 fell from 111 to 76 ms (ADR 0013).
LINGER = 0.020
PARTITIONS = OutboxPartition._meta.db_table

# A row may be published when it is pending, not waiting for a retry, and no earlier event of
# its aggregate is waiting for a retry (so nothing overtakes an event the broker refused).
_ELIGIBLE = f"""
    e.published_at IS NULL
    AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= %(now)s)
    AND NOT EXISTS (
        SELECT 1 FROM {EVENTS} r
        WHERE r.published_at IS NULL AND r.next_attempt_at IS NOT NULL
          AND r.next_attempt_at > %(now)s
          AND r.aggregate_type = e.aggregate_type AND r.subject = e.subject AND r.id < e.id
    )
"""


class Backoff:
    """Exponential delays: initial, doubling, capped at maximum; reset after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * 2)
        return min(delay, self.maximum)

    def reset(self) -> None:
        self._next = self.initial


def retry_delay(attempts: int, *, base: float, maximum: float) -> float:
    """Seconds a row refused `attempts` times waits before its next try."""
    return min(maximum, base * 2 ** max(0, attempts - 1))


@dataclass(frozen=True)
class BatchResult:
    """What one claim transaction did."""

    claimed: int = 0
    published: int = 0
    failed: int = 0
    held_back: int = 0  # confirmed, but an earlier event of the aggregate was not: sent again
    partitions: tuple[int, ...] = ()
    seconds: float = 0.0


@dataclass
class RelaySummary:
    """Totals over several batches (one `--once` run, one Celery task, one relay process)."""

    batches: int = 0
    published: int = 0
    failed: int = 0
    held_back: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.published += result.published
        self.failed += result.failed
        self.held_back += result.held_back

    @property
    def events_per_second(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0


class PendingEvent(NamedTuple):
    """The columns of an outbox row the relay publishes and bookkeeps; `data` is the stored JSON.

    The relay reads rows as plain tuples: building OutboxEvent instances and parsing the JSON
    only to serialise it again cost about 60 µs an event (bench/sync.py, py-spy).
    """

    id: int
    event_id: Any
    event_type: str
    source: str
    subject: str
    aggregate_type: str
    aggregate_version: int
    partition: int
    dataversion: int
    data: str
    correlation_id: str
    causation_id: str
    traceparent: str
    created_at: Any
    attempts: int


_PENDING_COLUMNS = ", ".join(f"e.{name}" for name in PendingEvent._fields)


@lru_cache(maxsize=512)
def _dataschema(event_type: str, version: int) -> str | None:
    try:
        return registry.schema(event_type, version).get("$id")
    except registry.ContractError:
        return None  # a type retired from the catalog still replays, without a URI


def _aware(value: Any) -> datetime:
    """A created_at as stored: aware on PostgreSQL, UTC text on SQLite (raw cursors)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def outgoing_message(row: PendingEvent) -> OutgoingMessage:
    """The broker message of an outbox row: routing key = event type, id = event id.

    The same attributes as OutboxEvent.to_envelope().to_message(); the body is the stored JSON
    as it is (JSON-equal to the envelope's compact form).
    """
    event_id = str(row.event_id if isinstance(row.event_id, UUID) else UUID(row.event_id))
    attributes = attribute_strings(
        event_id,
        row.source,
        row.event_type,
        {
            "subject": row.subject,
            "time": _aware(row.created_at),
            "dataschema": _dataschema(row.event_type, row.dataversion),
            "dataversion": row.dataversion,
            "aggregateversion": row.aggregate_version,
            "correlationid": row.correlation_id,
            "causationid": row.causation_id,
            "traceparent": row.traceparent,
        },
    )
    data = row.data if isinstance(row.data, str) else json.dumps(row.data)
    return OutgoingMessage(
        message_id=event_id,
        routing_key=row.event_type,
        message=binary_message(attributes, JSON_CONTENT_TYPE, data.encode()),
    )


class OutboxRelay:
    """Publishes this database's outbox. Several may run at once (PostgreSQL); one on SQLite.

    `after_confirm` runs between the broker's confirms and the marking of the rows; tests use it
    to kill the relay at the worst moment.
    """

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        settings: OutboxSettings | None = None,
        batch_size: int | None = None,
        after_confirm: Callable[[Sequence[PendingEvent]], None] | None = None,
    ) -> None:
        self.settings = settings or outbox_settings()
        self.transport = transport or get_transport()
        self.batch_size = batch_size or self.settings.batch_size
        self.after_confirm = after_confirm
        self._partitions_ready = False
        # True while the last batch came back full: claim CLAIM_PARTITIONS so that other relays
        # share the backlog. After a short batch (a trickle) every partition is claimed at once.
        self._backlog = True
        # PostgreSQL: per partition, the id every publishable row this relay can still find is
        # at or above. A mark leaves the row's entry in the pending index until VACUUM (an
        # update cannot be HOT when it changes a partial index's predicate), and a probe of the
        # index walks every such entry before the first pending row: under a steady trickle the
        # pages take new entries all the time, so btree never marks the dead ones (measured:
        # 1,300 buffers per probe after 50,000 marks, the relay's PostgreSQL CPU per event 40
        # -> 115 µs). A probe starts at the floor instead. Floors move only past rows this relay
        # published, and are forgotten every FLOOR_RESET seconds and after any refused row, so
        # a row committed late (an id taken before rows that committed first) or waiting for a
        # retry is found by the next probe from the start.
        self._floors: dict[int, int] = {}
        self._floors_until = 0.0

    def close(self) -> None:
        self.transport.close()

    # -- one batch ----------------------------------------------------------------------------

    def ensure_partitions(self) -> None:
        """Create the partition rows relays lock (idempotent; any relay may do it)."""
        OutboxPartition.objects.bulk_create(
            [OutboxPartition(number=n) for n in range(self.settings.partitions)],
            ignore_conflicts=True,
        )
        self._partitions_ready = True

    def publish_batch(self) -> BatchResult:
        """Claim, publish and mark one batch in one transaction; TransportError keeps it pending."""
        if not self._partitions_ready:
            self.ensure_partitions()
        started = time.perf_counter()
        if time.monotonic() >= self._floors_until:
            self._floors = {}
            self._floors_until = time.monotonic() + FLOOR_RESET
        with transaction.atomic():
            now = timezone.now()
            wanted = self.settings.claim_partitions if self._backlog else self.settings.partitions
            claimed, rows = self._claim_rows(now, wanted, self.batch_size)
            # Fewer partitions than asked for means no other has publishable rows to give.
            if len(claimed) == wanted and len(rows) < self.batch_size:
                rows += self._top_up(claimed, len(rows), now)
            self._backlog = len(rows) >= self.batch_size
            if not rows:
                return BatchResult()
            partitions = tuple(dict.fromkeys(row.partition for row in rows))
            messages = [outgoing_message(row) for row in rows]
            with (
                tracing.batch_span(
                    "strangler.relay.publish",
                    (row.traceparent for row in rows),
                    kind="producer",
                    attributes={
                        "messaging.system": "rabbitmq",
                        "messaging.operation.type": "send",
                        "messaging.batch.message_count": len(rows),
                    },
                ),
                PUBLISH_DURATION.time(),
            ):
                outcomes = self.transport.publish_batch(messages)
            if self.after_confirm is not None:
                self.after_confirm(rows)
            result = self._record(rows, outcomes, partitions)
        self._advance_floors(rows, result)
        return BatchResult(
            claimed=result.claimed,
            published=result.published,
            failed=result.failed,
            held_back=result.held_back,
            partitions=result.partitions,
            seconds=time.perf_counter() - started,
        )

    def _advance_floors(self, rows: Sequence[PendingEvent], result: BatchResult) -> None:
        """After a committed batch: each partition's floor moves past the rows published.

        The read takes a prefix, in id order, of each partition's publishable rows at or above
        its floor, so none it could see is left below the last one taken. A refused or held
        back row stays pending below it: then every floor is forgotten.
        """
        if connection.vendor != "postgresql":
            return
        if result.failed or result.held_back:
            self._floors = {}
            return
        for row in rows:
            if row.id >= self._floors.get(row.partition, 0):
                self._floors[row.partition] = row.id + 1

    def _floor(self, partition: str) -> str:
        """The condition that starts a probe of `partition` (an SQL expression) at its floor."""
        if connection.vendor != "postgresql":
            return ""
        return f"e.id >= (%(floors)s::bigint[])[{partition} + 1] AND"

    def _top_up(self, claimed: Sequence[int], taken: int, now: Any) -> list[PendingEvent]:
        """Rows of every other partition with publishable rows, while the batch has room.

        CLAIM_PARTITIONS exists so that several relays share a backlog; a trickle spread over
        all partitions would otherwise go out in several small batches one after the other (one
        confirm wait and one commit each), which the sync benchmark measured as tens of ms of lag.
        A full batch claims nothing more, so under a backlog other relays still get partitions.
        Every partition the first claim locked is excluded: SKIP LOCKED does not skip this
        transaction's own locks, and reading one of them again would send its rows twice.
        """
        if len(claimed) >= self.settings.partitions:
            return []
        room = self.batch_size - taken
        _, rows = self._claim_rows(
            now, self.settings.partitions - len(claimed), room, exclude=claimed
        )
        return rows

    def _claim_rows(
        self, now: Any, partitions: int, room: int, exclude: Iterable[int] = ()
    ) -> tuple[list[int], list[PendingEvent]]:
        """Lock up to `partitions` partitions with publishable rows (oldest first); return them
        and up to `room` of their publishable rows in id order.

        `exclude`: partitions this transaction already holds (SKIP LOCKED does not skip them).
        Both statements cost the same whatever the backlog (ADR 0013): the claim asks each
        partition for its first publishable row (one probe of the pending index, stopping at
        the first hit), and the read takes at most `room` rows of each claimed partition, each
        list already in id order, before keeping the oldest `room` of them.
        """
        params: dict[str, Any] = {
            "now": connection.ops.adapt_datetimefield_value(now),
            "partitions": partitions,
            "room": room,
        }
        if connection.vendor == "postgresql":
            params["floors"] = [self._floors.get(n, 0) for n in range(self.settings.partitions)]
        held = set(exclude)
        # The partitions are named, not ranged over: the planner then expects as many rows as
        # names (the partition table is never analysed, and a guess of thousands of rows priced
        # the claim above jit_above_cost: 40-100 ms of JIT compilation per batch, measured).
        candidates = [n for n in range(self.settings.partitions) if n not in held]
        if not candidates:
            return [], []
        params.update({f"w{i}": number for i, number in enumerate(candidates)})
        names = ", ".join(f"%(w{i})s" for i in range(len(candidates)))
        locking = ""
        if connection.features.has_select_for_update_skip_locked:
            # Another relay holding a partition is skipped, never waited for.
            locking = "FOR UPDATE OF p SKIP LOCKED"
        oldest = f"""(SELECT e.id FROM {EVENTS} e
                      WHERE e.partition = p.number AND {self._floor("p.number")} {_ELIGIBLE}
                      ORDER BY e.id LIMIT 1)"""
        claim = f"""
            SELECT p.number FROM {PARTITIONS} p
            WHERE p.number IN ({names}) AND {oldest} IS NOT NULL
            ORDER BY {oldest}
            LIMIT %(partitions)s {locking}
        """
        with prepared_cursor(connection) as (cursor, prepare):
            cursor.execute(claim, params, **prepare)
            claimed = [row[0] for row in cursor.fetchall()]
            if not claimed:
                return [], []
            # A second statement, so a second snapshot: a partition's lock may have been granted
            # only when another relay committed, and this snapshot sees what that relay marked.
            # More partitions than a backlog's claim takes: a trickle, or a top-up of thin ones.
            spread = len(claimed) > self.settings.claim_partitions
            if spread and connection.vendor == "postgresql":
                params["claimed"] = claimed
            else:
                params.update({f"p{i}": number for i, number in enumerate(claimed)})
            cursor.execute(self._read_statement(len(claimed), spread), params, **prepare)
            return claimed, [PendingEvent(*row) for row in cursor.fetchall()]

    def _read_statement(self, partitions: int, spread: bool) -> str:
        """The oldest `room` publishable rows of the `claimed` partitions, in id order.

        A union of one branch per partition reads no more rows than it keeps (Merge Append), but
        PostgreSQL plans every branch, with its anti-join, on every execution: 3-6 ms with 16
        branches, more than running it (ADR 0013). Many claimed partitions mean a trickle (or a
        top-up of thin partitions), with few rows in each: one LATERAL branch, planned once and
        run per partition, costs 0.5 ms in all. Under a backlog the few claimed partitions are
        full, and the union, which stops at `room` rows, is cheaper than reading `room` rows of
        each (1.9 ms against 5.3 for 4 partitions of 500 rows).
        """
        if spread and connection.vendor == "postgresql":
            return f"""
                SELECT c.* FROM unnest(%(claimed)s::integer[]) AS k(number)
                CROSS JOIN LATERAL (
                    SELECT {_PENDING_COLUMNS} FROM {EVENTS} e
                    WHERE e.partition = k.number AND {self._floor("k.number")} {_ELIGIBLE}
                    ORDER BY e.id LIMIT %(room)s) AS c
                ORDER BY c.id LIMIT %(room)s"""
        per_partition = " UNION ALL ".join(
            f"""SELECT * FROM (
                SELECT {_PENDING_COLUMNS} FROM {EVENTS} e
                WHERE e.partition = %(p{i})s AND {self._floor(f"%(p{i})s")} {_ELIGIBLE}
                ORDER BY e.id LIMIT %(room)s) AS p{i}"""
            for i in range(partitions)
        )
        return f"SELECT * FROM ({per_partition}) AS claimed ORDER BY id LIMIT %(room)s"

    def _record(
        self,
        rows: Sequence[PendingEvent],
        outcomes: Sequence[PublishOutcome],
        partitions: tuple[int, ...],
    ) -> BatchResult:
        """Mark confirmed rows published, except after an aggregate's first refused row."""
        blocked: set[tuple[str, str]] = set()
        published: list[int] = []
        refused: list[tuple[PendingEvent, str]] = []
        held_back = 0
        for row, outcome in zip(rows, outcomes, strict=True):
            aggregate = (row.aggregate_type, row.subject)
            if aggregate in blocked:
                held_back += 1
            elif outcome.confirmed:
                published.append(row.id)
            else:
                blocked.add(aggregate)
                refused.append((row, outcome.error))
        now = timezone.now()
        if published:
            _mark_published(published, now)
        for row, error in refused:
            attempts = row.attempts + 1
            delay = retry_delay(
                attempts, base=self.settings.retry_base, maximum=self.settings.retry_max
            )
            OutboxEvent.objects.filter(id=row.id).update(
                attempts=attempts,
                last_error=error[:2000],
                next_attempt_at=now + timedelta(seconds=delay),
            )
            PUBLISH_FAILURES.labels(failure_reason(error)).inc()
            logger.warning(
                "event %s (%s %s v%s) not published, retry in %.1fs: %s",
                row.event_id,
                row.event_type,
                row.subject,
                row.aggregate_version,
                delay,
                error,
            )
        PUBLISHED_EVENTS.inc(len(published))
        return BatchResult(len(rows), len(published), len(refused), held_back, partitions)

    # -- many batches -------------------------------------------------------------------------

    def publish_all_pending(self, *, max_batches: int | None = None) -> RelaySummary:
        """Publish batches until nothing publishable is left; TransportError propagates."""
        summary = RelaySummary()
        started = time.perf_counter()
        try:
            while max_batches is None or summary.batches < max_batches:
                result = self.publish_batch()
                if not result.claimed:
                    break
                summary.add(result)
                self._log(result)
        finally:
            summary.seconds = time.perf_counter() - started
        return summary

    def run(self, stop: threading.Event, waiter: RelayWaiter | None = None) -> RelaySummary:
        """Publish until `stop` is set; a batch in flight always finishes. Never raises on
        broker or database outages: it backs off, reconnects and carries on."""
        waiter = waiter or waiter_for_database(self.settings)
        summary = RelaySummary()
        started = time.perf_counter()
        outage = Backoff(0.5, self.settings.reconnect_max)
        next_gauges = 0.0
        idle = True
        try:
            while not stop.is_set():
                if idle:
                    # A restarted PostgreSQL leaves a dead connection behind: check it after a
                    # wait (Django's health check is a round trip, too dear between busy batches,
                    # where a dead connection fails the claim, before anything is published).
                    close_old_connections()
                try:
                    result = self.publish_batch()
                    if time.monotonic() >= next_gauges:
                        next_gauges = self._refresh_gauges()
                except TransportError as exc:
                    delay = outage.next()
                    logger.warning("broker unavailable (%s); retrying in %.1fs", exc, delay)
                    summary.errors.append(str(exc))
                    idle = True
                    stop.wait(delay)
                    continue
                except DatabaseError as exc:
                    delay = outage.next()
                    logger.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                    summary.errors.append(str(exc))
                    connection.close()
                    idle = True
                    stop.wait(delay)
                    continue
                outage.reset()
                if result.claimed:
                    summary.add(result)
                    self._log(result)
                    idle = False
                    if result.claimed < self.batch_size:
                        # A trickle: let the next batch gather for a moment (see LINGER).
                        stop.wait(max(0.0, LINGER - result.seconds))
                    continue
                idle = True
                waiter.wait(self.settings.sweep_interval)
        finally:
            waiter.close()
            summary.seconds = time.perf_counter() - started
        return summary

    @staticmethod
    def _refresh_gauges() -> float:
        """Refresh the backlog gauges; returns when to do it next (monotonic clock).

        Counting the pending rows costs in proportion to the backlog (a second per refresh on
        a million rows), so the next refresh waits at least 50 times what this one took:
        the gauges never take more than 2% of the relay's time.
        """
        started = time.monotonic()
        refresh_backlog_gauges()
        took = time.monotonic() - started
        return started + max(GAUGE_INTERVAL, took * 50)

    def _log(self, result: BatchResult) -> None:
        logger.info(
            "relay batch: %d claimed, %d published, %d failed, %d held back (partitions %s, %.3fs)",
            result.claimed,
            result.published,
            result.failed,
            result.held_back,
            ",".join(str(p) for p in result.partitions),
            result.seconds,
        )


def _mark_published(ids: list[int], now: datetime) -> None:
    """Mark the confirmed rows. On PostgreSQL the ids travel as one array (`id = ANY(%s)`): the
    ORM's `IN (%s, %s, ...)` compiles and adapts a parameter per row: 6% of the relay's
    samples in a drain (py-spy, bench/sync.py)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {EVENTS} SET published_at = %s WHERE id = ANY(%s)", [now, ids])
    else:
        OutboxEvent.objects.filter(id__in=ids).update(published_at=now)


class RelayWaiter:
    """Sleeps between sweeps until woken by a commit (in-process signal) or the timeout."""

    def wait(self, timeout: float) -> bool:
        return wakeup.wait(timeout)

    def close(self) -> None:
        """Nothing to release for the in-process waiter."""


class PostgresNotifyWaiter(RelayWaiter):
    """LISTENs on the outbox channel on its own psycopg connection (not Django's)."""

    def __init__(self, settings_dict: dict[str, Any], channel: str) -> None:
        self.settings_dict = settings_dict
        self.channel = channel
        self._connection: Any = None

    def _listen(self) -> Any:
        import psycopg
        from psycopg import sql

        if self._connection is None or self._connection.closed:
            params = {
                "dbname": self.settings_dict["NAME"],
                "user": self.settings_dict.get("USER") or None,
                "password": self.settings_dict.get("PASSWORD") or None,
                "host": self.settings_dict.get("HOST") or None,
                "port": self.settings_dict.get("PORT") or None,
            }
            conn = psycopg.connect(
                autocommit=True, connect_timeout=5, **{k: v for k, v in params.items() if v}
            )
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._connection = conn
        return self._connection

    def wait(self, timeout: float) -> bool:
        import psycopg

        try:
            conn = self._listen()
            woken = False
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                woken = True
            if woken:
                # Swallow the other notifications of the same burst: one sweep serves them all.
                for _ in conn.notifies(timeout=0.001):
                    pass
            return woken
        except psycopg.Error as exc:
            logger.warning("LISTEN connection lost (%s); sweeping on the timer", exc)
            self.close()
            time.sleep(min(timeout, 1.0))
            return False

    def close(self) -> None:
        conn, self._connection = self._connection, None
        if conn is not None:
            conn.close()


def waiter_for_database(settings: OutboxSettings) -> RelayWaiter:
    """LISTEN/NOTIFY on PostgreSQL, the in-process wake-up (plus the sweep timer) elsewhere."""
    if connection.vendor == "postgresql":
        return PostgresNotifyWaiter(connection.settings_dict, settings.notify_channel)
    return RelayWaiter()
