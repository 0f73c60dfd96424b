"""Catalog sync, monolith commit to service commit: throughput and lag of the kit's own pipeline.

The monolith's outbox (PostgreSQL) -> `outbox_relay` -> RabbitMQ (quorum queue) -> the catalog
service's `consume_events` -> the service's PostgreSQL. Throughput: a backlog of catalog product
events is drained and timed between the first and the last inbox commit (process start-up is not
counted): the consumer alone over a queue the relay filled first, with a transaction per message
(BATCH_SIZE=1) and with batched transactions, then relay and consumer started together.
Lag: a paced writer commits events at fixed rates; lag is InboxRecord.applied_at (the service's
commit) minus the event's time (the monolith's commit, the outbox row's created_at).

    python -m bench.catalog_sync [--events 20000] [--rates 200,1000] [--budget 300]

Pipeline plumbing (databases, backlog COPY, paced writer) is bench.sync's KitPipeline.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import psycopg

from bench.common import (
    PYTHON,
    Budget,
    ProcessGroup,
    Table,
    print_tables,
    run_id,
    wait_until,
    work_dir,
    write_result,
)
from bench.sync import KitPipeline, measure_backlog, measure_lag

BATCHED = 100


class CatalogPipeline(KitPipeline):
    """The kit pipeline with a chosen inbox batch size, optionally published before consuming."""

    def __init__(
        self, name: str, run: str, group: ProcessGroup, batch_size: int, prepublish: bool
    ) -> None:
        super().__init__(name, run, group)
        self.batch_size = batch_size
        self.prepublish = prepublish

    def setup(self) -> None:
        super().setup()
        self.env["CATALOG_INBOX_BATCH_SIZE"] = str(self.batch_size)
        self.env["CATALOG_INBOX_PREFETCH"] = str(max(2 * self.batch_size, 20))

    def start(self) -> None:
        if not self.prepublish:
            super().start()
            return
        # Consumer alone: the relay publishes the whole backlog first, then the consumer drains it.
        self.group.start("kit-relay", [PYTHON, "manage.py", "outbox_relay"], self.env)
        wait_until(
            lambda: _pending(self.source_url) == 0,
            timeout=600,
            interval=0.5,
            what="the relay to publish the backlog",
        )
        self.group.start(
            "kit-consumer", [PYTHON, "extracted/catalog/manage.py", "consume_events"], self.env
        )


def _pending(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM strangler_outbox_event WHERE published_at IS NULL"
        ).fetchone()
    return int(row[0])


MODES = (
    # (name, inbox batch size, publish the backlog before the consumer starts)
    ("consumer alone, transaction per message", 1, True),
    (f"consumer alone, batches of {BATCHED}", BATCHED, True),
    (f"relay + consumer together, batches of {BATCHED}", BATCHED, False),
)


def run(events: int, rates: Sequence[float], lag_seconds: float, budget: Budget) -> dict[str, Any]:
    rid = run_id()
    log_dir = work_dir(f"catalog-sync-{rid}")
    group = ProcessGroup(log_dir)
    result: dict[str, Any] = {
        "events": events,
        "lag_seconds": lag_seconds,
        "logs": str(log_dir),
        "method": (
            "throughput = inbox records / (last applied_at - first applied_at) over a backlog "
            "COPYed into the monolith's outbox before relay and consumer start; lag = "
            "applied_at - event_time (the outbox row's created_at, stamped with clock_timestamp() "
            "in the writer's transaction) of events written at a paced rate after a 1 s warm-up"
        ),
        "throughput": {},
        "lag": {},
        # The benchmark shares a 2-core machine; a busy machine shows here, not in the numbers.
        "load_average_at_start": os.getloadavg(),
    }
    for index, (name, batch_size, prepublish) in enumerate(MODES):
        pipe = CatalogPipeline(name, f"{rid}m{index}", group, batch_size, prepublish)
        last = index == len(MODES) - 1
        try:
            print(f"[catalog_sync] {name}: setting up, backlog of {events:,}", flush=True)
            pipe.setup()
            pipe.load_backlog(events)
            share = budget.spend(max(30.0, budget.remaining() / (len(MODES) - index + 1)))
            result["throughput"][name] = measure_backlog(pipe, events, share)
            print(f"[catalog_sync]   {result['throughput'][name]}", flush=True)
            if last:
                first_id = events + 1
                for rate in rates:
                    if budget.remaining() < lag_seconds + 5:
                        print("[catalog_sync] budget spent; skipping the other lag runs")
                        break
                    print(f"[catalog_sync] lag at {rate:.0f} events/s", flush=True)
                    result["lag"][f"{rate:.0f}/s"] = measure_lag(
                        pipe, rate, lag_seconds, first_id, budget
                    )
                    first_id += int(rate * lag_seconds * 1.6) + 10
        finally:
            for process in list(group.processes):
                process.stop()
            group.processes.clear()
            pipe.teardown()
    result["tables"] = [t.to_dict() for t in tables(result)]
    return result


def tables(result: dict[str, Any]) -> list[Table]:
    rates = Table(
        f"Catalog sync throughput, backlog of {result['events']:,} events (PostgreSQL + RabbitMQ)",
        ["pipeline", "events/s", "applied", "seconds"],
    )
    for name, row in result["throughput"].items():
        rates.add(name, row["events_per_second"], row["applied"], row["seconds"])
    lags = Table(
        f"Catalog sync lag, monolith commit -> service commit (batch {BATCHED})",
        ["load", "events/s", "applied", "p50 ms", "p95 ms", "p99 ms", "max ms"],
    )
    for load, row in result["lag"].items():
        lags.add(
            load,
            row["write_rate"],
            f"{row['applied']}/{row['written']}",
            row.get("p50_ms"),
            row.get("p95_ms"),
            row.get("p99_ms"),
            row.get("max_ms"),
        )
    return [rates, lags]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="backlog size")
    parser.add_argument(
        "--rates", default="200,1000", help="comma-separated paced write rates for the lag runs"
    )
    parser.add_argument("--lag-seconds", type=float, default=8.0, help="length of each lag run")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds this may take")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if args.events < 1 or not rates or any(r <= 0 for r in rates):
        parser.error("--events and every --rates value must be positive")
    result = run(args.events, rates, args.lag_seconds, Budget(args.budget))
    print_tables([Table.from_dict(t) for t in result["tables"]])
    print(f"\nwrote {write_result('catalog_sync', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
