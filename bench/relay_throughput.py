"""Outbox relay throughput: N pending events on PostgreSQL published to RabbitMQ by `--once`.

    python bench/relay_throughput.py --events 20000 --batch-sizes 100,500,1000

Uses its own database (created if missing, migrated) and a private exchange and quorum queue
(deleted afterwards); prints a table and writes bench/results/relay_throughput.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def insert_pending(events: int, aggregates: int) -> None:
    """Bulk-insert pending catalog.product.upserted rows, versions 1..n per aggregate."""
    from django.db import connection, transaction
    from django.utils import timezone

    from strangler.outbox.conf import outbox_settings
    from strangler.outbox.models import AggregateVersion, OutboxEvent
    from strangler.outbox.services import partition_for

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {OutboxEvent._meta.db_table}, {AggregateVersion._meta.db_table}")
    partitions = outbox_settings().partitions
    now = timezone.now()
    rows = []
    for n in range(events):
        aggregate, version = n % aggregates + 1, n // aggregates + 1
        rows.append(
            OutboxEvent(
                event_id=uuid.uuid4(),
                event_type="catalog.product.upserted",
                source="bench",
                subject=str(aggregate),
                aggregate_type="catalog.product",
                aggregate_version=version,
                partition=partition_for("catalog.product", str(aggregate), partitions),
                data={
                    "id": aggregate,
                    "sku": f"SKU-{aggregate}",
                    "name": "Benchmark product " + "x" * 700,  # about 1 KiB per event
                    "description": "",
                    "price": f"{version}.00",
                    "currency": "EUR",
                    "category_id": None,
                    "active": True,
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                },
                created_at=now,
            )
        )
    with transaction.atomic():
        OutboxEvent.objects.bulk_create(rows, batch_size=2000)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--aggregates", type=int, default=1_000)
    parser.add_argument("--batch-sizes", default="100,500,1000")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/strangler_bench"
        ),
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    )
    options = parser.parse_args(argv)
    if not 1 <= options.events <= 1_000_000:
        parser.error("--events must be between 1 and 1,000,000")
    batch_sizes = [int(b) for b in options.batch_sizes.split(",")]

    ensure_database(options.database_url)
    os.environ["DATABASE_URL"] = options.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    import logging

    logging.getLogger("strangler").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)

    from strangler.transport import get_transport
    from strangler.transport.base import Subscription
    from strangler.transport.conf import transport_settings

    exchange = f"bench.events.{uuid.uuid4().hex[:8]}"
    settings.STRANGLER_TRANSPORT = {"URL": options.broker_url, "EXCHANGE": exchange}
    subscription = Subscription("bench", f"bench.{uuid.uuid4().hex[:8]}", ("catalog.#",))
    transport = get_transport(transport_settings())
    transport.declare_subscription(subscription)
    rows = []
    try:
        for batch_size in batch_sizes:
            insert_pending(options.events, options.aggregates)
            out = io.StringIO()
            started = time.perf_counter()
            call_command(
                "outbox_relay", "--once", "--json", "--batch-size", str(batch_size), stdout=out
            )
            wall = time.perf_counter() - started
            summary = json.loads(out.getvalue().strip().splitlines()[-1])
            depth = transport.queue_depth(subscription.queue)
            rows.append(
                {
                    "batch_size": batch_size,
                    "events": options.events,
                    "published": summary["published"],
                    "batches": summary["batches"],
                    "seconds": round(wall, 3),
                    "events_per_second": round(summary["published"] / wall, 1),
                    "queue_depth_after": depth,
                }
            )
            transport.delete_subscription(subscription)
            transport.declare_subscription(subscription)
    finally:
        transport.delete_subscription(subscription)
        transport.close()

    print(f"\nOutbox relay `outbox_relay --once`: {options.events} pending events, PostgreSQL ->")
    print("RabbitMQ quorum queue, persistent messages, batched publisher confirms\n")
    print(
        f"{'batch':>6} {'published':>10} {'batches':>8} {'seconds':>8} "
        f"{'events/s':>9} {'in queue':>9}"
    )
    for row in rows:
        print(
            f"{row['batch_size']:>6} {row['published']:>10} {row['batches']:>8} "
            f"{row['seconds']:>8.2f} {row['events_per_second']:>9.0f} {row['queue_depth_after']:>9}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "relay_throughput",
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "method": "N pending rows bulk-inserted, then `manage.py outbox_relay --once` timed "
        "(claim by partition + batched confirms + bulk mark), 1 KiB events, 1 relay",
        "results": rows,
    }
    (RESULTS / "relay_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS / 'relay_throughput.json'}")
    return 0 if all(r["published"] == r["events"] == r["queue_depth_after"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
