"""Benchmark of the operator commands: reconcile of N equal rows, drift, backfill and replay rates.

    .venv/bin/python -m bench.reconcile [--rows 1000000] [--backfill-rows 100000]

Two PostgreSQL databases get the same N products by COPY; the monolith's code serves one of them
on loopback (the other side's /internal/sync/) and `manage.py reconcile` runs against the other.
Then 10 rows drift and reconcile runs again. A third database measures `backfill` (events
recorded per second) and `replay_events` to one RabbitMQ queue (events confirmed per second),
next to the COPY rate of the same machine. Prints tables; writes bench/results/reconcile.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from bench.common import (
    PYTHON,
    RABBITMQ_URL,
    ROOT,
    BenchError,
    ProcessGroup,
    Table,
    base_env,
    databases,
    delete_broker_objects,
    free_port,
    manage,
    print_tables,
    run_id,
    wait_until,
    work_dir,
    write_result,
)
from tests.processes import http_ok

TOKEN = "bench-reconcile-token"
COLUMNS = "id, sku, name, description, price, currency, category_id, active, created_at, updated_at"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def product(key: int) -> tuple[Any, ...]:
    moment = EPOCH + timedelta(seconds=key)
    return (
        key,
        f"SKU-{key:08d}",
        f"Product {key}",
        "" if key % 3 else f"about product {key}",
        Decimal(key % 10_000) + Decimal("0.99"),
        "EUR" if key % 2 else "USD",
        1 if key % 2 else None,
        key % 5 != 0,
        moment,
        moment + timedelta(days=1),
    )


def fill(url: str, rows: int) -> float:
    """COPY `rows` products (and their category) into a migrated database; returns seconds."""
    started = time.monotonic()
    with psycopg.connect(url) as db:
        db.execute("INSERT INTO catalog_category (id, name, slug) VALUES (1, 'Bulk', 'bulk')")
        with (
            db.cursor() as cursor,
            cursor.copy(f"COPY catalog_product ({COLUMNS}) FROM STDIN") as copy,
        ):
            for key in range(1, rows + 1):
                copy.write_row(product(key))
        db.execute("ANALYZE catalog_product")
    return time.monotonic() - started


def drift(url: str, rows: int) -> None:
    """Ten drifted rows: 3 deleted, 4 changed, 3 added."""
    with psycopg.connect(url) as db:
        for key in (5, rows // 2, rows - 1):
            db.execute("DELETE FROM catalog_product WHERE id = %s", [key])
        for key in (17, rows // 3, rows // 3 + 7, rows - 100):
            db.execute("UPDATE catalog_product SET name = name || '!' WHERE id = %s", [key])
        for key in (rows + 1, rows + 2, rows + 3):
            db.execute(
                f"INSERT INTO catalog_product ({COLUMNS}) VALUES "
                "(%s, %s, 'x', '', 1.00, 'EUR', NULL, true, now(), now())",
                [key, f"X-{key}"],
            )


def full_scan_compare(source: str, target: str) -> dict[str, Any]:
    """The naive comparison reconcile is measured against: every row of both sides, merged by id.

    Server-side cursors stream both tables in id order; returns seconds, rows read, differences.
    """
    started = time.monotonic()
    query = f"SELECT {COLUMNS} FROM catalog_product ORDER BY id"
    read = differences = 0
    with psycopg.connect(source) as a, psycopg.connect(target) as b:
        left = a.cursor(name="full_scan_left")
        right = b.cursor(name="full_scan_right")
        left.itersize = right.itersize = 10_000
        left.execute(query)
        right.execute(query)
        x, y = next(left, None), next(right, None)
        while x is not None or y is not None:
            if y is None or (x is not None and x[0] < y[0]):
                differences, read, x = differences + 1, read + 1, next(left, None)
            elif x is None or y[0] < x[0]:
                differences, read, y = differences + 1, read + 1, next(right, None)
            else:
                differences += x != y
                read += 2
                x, y = next(left, None), next(right, None)
    return {
        "seconds": round(time.monotonic() - started, 2),
        "rows_read": read,
        "differences": differences,
    }


def reconcile(env: dict[str, str], target: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    done = subprocess.run(
        [PYTHON, "manage.py", "reconcile", "catalog.product", "--target", target, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise BenchError(f"reconcile failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout)["aggregates"][0], seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backfill-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    token = run_id()
    names = (f"bench_rec_a_{token}", f"bench_rec_b_{token}", f"bench_rec_c_{token}")
    folder = work_dir(f"reconcile-{token}")
    exchange = f"bench-reconcile-{token}"
    queue = f"bench-replay-{token}.events"
    results: dict[str, Any] = {"rows": args.rows, "backfill_rows": args.backfill_rows}
    group = ProcessGroup(folder)
    try:
        with databases(*names) as urls:
            source, target, writer = (urls[n] for n in names)
            env_of = {
                url: base_env(
                    DATABASE_URL=url,
                    STRANGLER_INTERNAL_TOKEN=TOKEN,
                    DJANGO_SETTINGS_MODULE="monolith.config.settings",
                )
                for url in (source, target, writer)
            }
            for url in (source, target, writer):
                manage(["migrate", "--no-input"], env_of[url])
            copy_seconds = fill(source, args.rows)
            fill(target, args.rows)
            results["copy_rows_per_second"] = round(args.rows / copy_seconds)
            port = free_port()
            group.start(
                "target",
                [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                env_of[target],
            )
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: http_ok(f"{base}/healthz"), timeout=60, what="the target side")

            equal, equal_wall = reconcile(env_of[source], base)
            if not equal["equal"]:
                raise BenchError(f"equal stores reported drift: {equal}")
            drift(target, args.rows)
            drifted, drifted_wall = reconcile(env_of[source], base)
            results["full_scan"] = full_scan_compare(source, target)
            found = len(drifted["missing"]) + len(drifted["extra"]) + len(drifted["different"])
            if found != 10:
                raise BenchError(f"expected 10 drifted rows, found {found}: {drifted}")
            results["reconcile_equal"] = {**equal, "wall_seconds": round(equal_wall, 2)}
            results["reconcile_drift"] = {
                **{k: v for k, v in drifted.items() if k not in ("different",)},
                "different": [d["id"] for d in drifted["different"]],
                "wall_seconds": round(drifted_wall, 2),
                "fetched_fraction": round(drifted["rows_fetched"] / args.rows, 6),
            }

            # Backfill and replay on a third database: legacy rows without events.
            fill(writer, args.backfill_rows)
            out = manage(["backfill", "catalog.product", "--json"], env_of[writer], timeout=1800)
            results["backfill"] = json.loads(out)["backfill"][0]
            with psycopg.connect(writer) as db:
                db.execute("UPDATE strangler_outbox_event SET published_at = now()")
            subscriptions = json.dumps(
                [{"subscriber": "bench-replay", "queue": queue, "binding_keys": ["catalog.#"]}]
            )
            replay_env = {
                **env_of[writer],
                "BROKER_URL": RABBITMQ_URL,
                "STRANGLER_EXCHANGE": exchange,
                "BENCH_SUBSCRIPTIONS": subscriptions,
                "DJANGO_SETTINGS_MODULE": "bench.replay_settings",
            }
            manage(["setup_broker"], replay_env)
            out = manage(
                ["replay_events", "--to", "bench-replay", "--json"], replay_env, timeout=1800
            )
            results["replay"] = json.loads(out)
    finally:
        group.stop_all()
        delete_broker_objects(
            exchanges=[exchange, f"{exchange}.dlx"], queues=[queue, f"{queue}.dead"]
        )

    table = Table(
        "reconcile / backfill / replay (PostgreSQL 15, RabbitMQ, loopback)", ["measure", "value"]
    )
    eq = results["reconcile_equal"]
    dr = results["reconcile_drift"]
    table.add(f"reconcile {args.rows:,} equal rows: seconds (command)", eq["seconds"])
    table.add("  wall seconds incl. process start", eq["wall_seconds"])
    table.add("  rows hashed (both sides)", eq["rows_hashed"])
    table.add("reconcile with 10 drifted rows: seconds", dr["seconds"])
    table.add("  rows hashed (both sides)", dr["rows_hashed"])
    table.add("  rows fetched (both sides)", dr["rows_fetched"])
    table.add("  fetched / table rows", f"{100 * dr['fetched_fraction']:.3f}%")
    table.add("full-scan comparison, 10 drifted: seconds", results["full_scan"]["seconds"])
    table.add("  rows read (both sides)", results["full_scan"]["rows_read"])
    table.add(
        f"backfill {args.backfill_rows:,} rows: events/s", results["backfill"]["events_per_second"]
    )
    table.add("replay to one queue: events/s", results["replay"]["events_per_second"])
    table.add("PostgreSQL COPY of products: rows/s", results["copy_rows_per_second"])
    print_tables([table])
    path = write_result("reconcile", {**results, "tables": [table.to_dict()]})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
