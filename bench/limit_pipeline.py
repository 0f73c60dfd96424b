"""The limit: a minimal hand-written outbox -> RabbitMQ -> inbox pipeline with the kit's guarantees.

Same promises as strangler-kit (durable exchange, quorum queue, persistent messages, publisher
confirms before a row is marked published, inbox dedupe and version check in the consumer's
transaction, ack only after commit), none of the generality: one event type, hand-written SQL,
batched everything. `python -m bench.limit_pipeline relay|consume --db URL ...` runs one side.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import amqp
import psycopg

from bench.common import RABBITMQ_URL, amqp_parameters
from bench.workload import EVENT_TYPE, product_snapshot

NOTIFY_CHANNEL = "limit_outbox"
SOURCE = "monolith"

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS limit_outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    subject text NOT NULL,
    version bigint NOT NULL,
    data jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS limit_outbox_pending ON limit_outbox (id) WHERE published_at IS NULL;
"""

SERVICE_SCHEMA = """
CREATE TABLE IF NOT EXISTS limit_inbox (
    event_id uuid PRIMARY KEY,
    type text NOT NULL,
    subject text NOT NULL,
    version bigint NOT NULL,
    event_time timestamptz NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS limit_inbox_event_time ON limit_inbox (event_time);
CREATE TABLE IF NOT EXISTS limit_product (
    id bigint PRIMARY KEY,
    version bigint NOT NULL,
    sku text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    price numeric(12, 2) NOT NULL,
    currency char(3) NOT NULL,
    category_id bigint,
    active boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
"""


def create_schema(outbox_url: str, service_url: str) -> None:
    """The outbox table on the writer's database, inbox and projection on the service's."""
    with psycopg.connect(outbox_url, autocommit=True) as conn:
        conn.execute(OUTBOX_SCHEMA)
    with psycopg.connect(service_url, autocommit=True) as conn:
        conn.execute(SERVICE_SCHEMA)


def load_backlog(outbox_url: str, first_id: int, count: int) -> None:
    """COPY `count` pending events into the outbox (products first_id ... first_id+count-1)."""
    with (
        psycopg.connect(outbox_url) as conn,
        conn.cursor() as cursor,
        cursor.copy(
            "COPY limit_outbox (event_id, type, subject, version, data) FROM STDIN"
        ) as copy,
    ):
        for n in range(first_id, first_id + count):
            data = json.dumps(product_snapshot(n))
            copy.write_row((uuid.uuid4(), EVENT_TYPE, str(n), 1, data))


def write_events(conn: psycopg.Connection[Any], first_id: int, count: int) -> None:
    """Commit `count` events in one transaction of the writer, waking the relay (paced writer)."""
    rows = [
        (uuid.uuid4(), EVENT_TYPE, str(n), 1, json.dumps(product_snapshot(n)))
        for n in range(first_id, first_id + count)
    ]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO limit_outbox (event_id, type, subject, version, data) "
            "VALUES (%s, %s, %s, %s, %s)",
            rows,
        )
        cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")


def _connect_broker(url: str) -> amqp.Connection:
    connection = amqp.Connection(**amqp_parameters(url), heartbeat=0)
    connection.connect()
    return connection


def declare_topology(url: str, exchange: str, queue: str) -> None:
    """Durable topic exchange, quorum queue bound to the catalog events (idempotent)."""
    connection = _connect_broker(url)
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
        channel.queue_declare(
            queue, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
        )
        channel.queue_bind(queue, exchange, "catalog.#")
    finally:
        connection.close()


class Stop:
    """Set by SIGTERM/SIGINT; loops finish the batch in flight, then return."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, signum: int, frame: Any) -> None:
        self.requested = True


def relay(outbox_url: str, broker_url: str, exchange: str, batch: int, stop: Stop) -> int:
    """Claim pending rows in id order, publish all, wait for every confirm, mark, commit."""
    broker = _connect_broker(broker_url)
    channel = broker.channel()
    channel.confirm_select()
    confirmed = {"upto": 0, "nacked": 0, "returned": 0}

    def on_ack(delivery_tag: int, multiple: bool) -> None:
        confirmed["upto"] = max(confirmed["upto"], delivery_tag)

    def on_nack(delivery_tag: int, multiple: bool) -> None:
        confirmed["nacked"] += 1
        confirmed["upto"] = max(confirmed["upto"], delivery_tag)

    def on_return(*args: Any) -> None:
        confirmed["returned"] += 1

    channel.events["basic_ack"].add(on_ack)
    channel.events["basic_nack"].add(on_nack)
    channel.events["basic_return"].add(on_return)
    sequence = 0
    published = 0
    db = psycopg.connect(outbox_url)
    listener = psycopg.connect(outbox_url, autocommit=True)
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    try:
        while not stop.requested:
            with db.transaction(), db.cursor() as cursor:
                cursor.execute(
                    "SELECT id, event_id, type, subject, version, data::text, created_at "
                    "FROM limit_outbox WHERE published_at IS NULL ORDER BY id "
                    "LIMIT %s FOR UPDATE SKIP LOCKED",
                    [batch],
                )
                rows = cursor.fetchall()
                if rows:
                    for _id, event_id, type_, subject, version, data, created_at in rows:
                        headers = {
                            "ce-specversion": "1.0",
                            "ce-id": str(event_id),
                            "ce-source": SOURCE,
                            "ce-type": type_,
                            "ce-subject": subject,
                            "ce-time": created_at.isoformat(),
                            "ce-aggregateversion": str(version),
                        }
                        message = amqp.Message(
                            data.encode(),
                            content_type="application/json",
                            delivery_mode=2,
                            application_headers=headers,
                        )
                        channel.basic_publish(message, exchange, type_, mandatory=True)
                        sequence += 1
                    deadline = time.monotonic() + 10
                    while confirmed["upto"] < sequence:
                        if time.monotonic() > deadline:
                            raise RuntimeError("broker did not confirm a batch within 10 s")
                        broker.drain_events(timeout=1)
                    if confirmed["nacked"] or confirmed["returned"]:
                        raise RuntimeError(f"broker refused messages: {confirmed}")
                    cursor.execute(
                        "UPDATE limit_outbox SET published_at = clock_timestamp() "
                        "WHERE id = ANY(%s)",
                        [[row[0] for row in rows]],
                    )
                    published += len(rows)
            if not rows:
                for _ in listener.notifies(timeout=0.5, stop_after=1):
                    pass
    finally:
        db.close()
        listener.close()
        broker.close()
    return published


def _apply_batch(db: psycopg.Connection[Any], messages: Sequence[amqp.Message]) -> int:
    """Record the batch in the inbox and upsert the new events' products; one transaction."""
    ids, types, subjects, versions, times = [], [], [], [], []
    bodies: dict[str, bytes] = {}
    for message in messages:
        headers = message.application_headers or {}
        event_id = str(headers["ce-id"])
        ids.append(event_id)
        types.append(headers["ce-type"])
        subjects.append(headers["ce-subject"])
        versions.append(int(headers["ce-aggregateversion"]))
        times.append(headers["ce-time"])
        bodies[event_id] = message.body
    with db.transaction(), db.cursor() as cursor:
        cursor.execute(
            "INSERT INTO limit_inbox (event_id, type, subject, version, event_time) "
            "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::bigint[], "
            "%s::timestamptz[]) ON CONFLICT DO NOTHING RETURNING event_id, version",
            [ids, types, subjects, versions, times],
        )
        latest: dict[int, tuple[int, dict[str, Any]]] = {}
        for event_id, version in cursor.fetchall():
            data = json.loads(bodies[str(event_id)])
            known = latest.get(data["id"])
            if known is None or known[0] < version:
                latest[data["id"]] = (version, data)
        if latest:
            cursor.executemany(
                "INSERT INTO limit_product (id, version, sku, name, description, price, "
                "currency, category_id, active, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, sku = EXCLUDED.sku, "
                "name = EXCLUDED.name, description = EXCLUDED.description, "
                "price = EXCLUDED.price, currency = EXCLUDED.currency, "
                "category_id = EXCLUDED.category_id, active = EXCLUDED.active, "
                "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at "
                "WHERE limit_product.version < EXCLUDED.version",
                [
                    (
                        pid,
                        version,
                        d["sku"],
                        d["name"],
                        d["description"],
                        d["price"],
                        d["currency"],
                        d["category_id"],
                        d["active"],
                        d["created_at"],
                        d["updated_at"],
                    )
                    for pid, (version, d) in latest.items()
                ],
            )
    return len(messages)


def consume(
    service_url: str, broker_url: str, queue: str, batch: int, prefetch: int, stop: Stop
) -> int:
    """Apply batches in one transaction each; ack the whole batch only after the commit."""
    broker = _connect_broker(broker_url)
    channel = broker.channel()
    channel.basic_qos(0, prefetch, False)
    pending: list[amqp.Message] = []
    channel.basic_consume(queue, callback=pending.append, no_ack=False)
    db = psycopg.connect(service_url)
    applied = 0
    try:
        while not stop.requested:
            try:
                broker.drain_events(timeout=0.002 if pending else 0.5)
                if len(pending) < batch:
                    continue
            except TimeoutError:  # nothing more arrived: apply what we have
                pass
            if pending:
                taken, pending[:] = pending[:batch], pending[batch:]
                applied += _apply_batch(db, taken)
                channel.basic_ack(taken[-1].delivery_tag, multiple=True)
    finally:
        db.close()
        broker.close()
    return applied


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["relay", "consume"])
    parser.add_argument("--db", required=True, help="PostgreSQL URL of this side")
    parser.add_argument("--broker", default=RABBITMQ_URL)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--queue", default="")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--prefetch", type=int, default=1000)
    args = parser.parse_args(argv)
    stop = Stop()
    if args.role == "relay":
        count = relay(args.db, args.broker, args.exchange, args.batch, stop)
    else:
        count = consume(args.db, args.broker, args.queue, args.batch, args.prefetch, stop)
    print(json.dumps({"role": args.role, "events": count}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
