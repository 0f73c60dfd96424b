"""Backfill and replay into an empty service projection, against PostgreSQL COPY of the same rows.

The monolith holds N products (COPY). Backfill: `manage.py backfill catalog.product` records a
snapshot event per row, `outbox_relay` publishes them and the catalog's `consume_events` applies
them: events/s from the backfill's start to the last service commit. Replay: the projection is
emptied and `manage.py replay_events --to catalog-service` sends the same stored events again to
the service's queue alone. The limit: COPY of the same N rows into an empty copy of the service's
product table, in the same run. Each phase is bounded in time; a phase that runs out reports the
rate of what it applied.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from bench.common import (
    PYTHON,
    Budget,
    ProcessGroup,
    Table,
    print_tables,
    ratio,
    run_id,
    work_dir,
    write_result,
)
from bench.sync import KIT, KitPipeline
from bench.workload import copy_products

SUBSCRIBER = "catalog-service"


def _drain_rate(pipe: KitPipeline, total: int, started_wall: Any, timeout: float) -> dict[str, Any]:
    """Wait for `total` applies (bounded); rate from `started_wall` to the last service commit."""
    applied = pipe.wait_applied(total, timeout=timeout)
    with psycopg.connect(pipe.target_url, autocommit=True) as conn:
        last = conn.execute("SELECT max(applied_at) FROM strangler_inbox_record").fetchone()[0]
    seconds = (last - started_wall).total_seconds() if last else 0.0
    return {
        "events": total,
        "applied": applied,
        "finished": applied >= total,
        "seconds": round(seconds, 2),
        "events_per_second": round(applied / seconds, 1) if seconds > 0 else 0.0,
    }


def _server_now(url: str) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def _empty_projection(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE catalog_product, strangler_inbox_record, strangler_inbox_projection_version"
        )


def run(events: int, budget: Budget, keep: bool = False) -> dict[str, Any]:
    rid = run_id()
    folder = work_dir(f"replay-{rid}")
    group = ProcessGroup(folder)
    pipe = KitPipeline(KIT, rid, group)
    result: dict[str, Any] = {"events": events, "logs": str(folder)}
    try:
        print("[replay] setting up", flush=True)
        pipe.setup()
        copy_products(pipe.source_url, "catalog_product", events)
        pipe.start()
        phase = max(20.0, budget.remaining() * 0.45)

        print(f"[replay] backfill of {events:,} products into the empty projection", flush=True)
        started = _server_now(pipe.target_url)
        command = group.start(
            "backfill", [PYTHON, "manage.py", "backfill", "catalog.product", "--json"], pipe.env
        )
        result["backfill"] = _drain_rate(pipe, events, started, timeout=phase)
        result["backfill"]["command_finished"] = not command.alive()
        command.stop()  # resumable: a stopped backfill keeps its checkpoint
        print(f"[replay]   {result['backfill']}", flush=True)

        pipe.discard_backlog()
        with psycopg.connect(pipe.source_url, autocommit=True) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM strangler_outbox_event WHERE published_at IS NOT NULL"
            ).fetchone()[0]
        _empty_projection(pipe.target_url)
        print(f"[replay] replay of the {stored:,} stored events", flush=True)
        replay_env = {
            **pipe.env,
            "DJANGO_SETTINGS_MODULE": "bench.replay_settings",
            "BENCH_SUBSCRIPTIONS": json.dumps(
                [{"subscriber": SUBSCRIBER, "queue": pipe.queue, "binding_keys": ["catalog.#"]}]
            ),
        }
        phase = max(20.0, budget.remaining() * 0.8)
        started = _server_now(pipe.target_url)
        command = group.start(
            "replay",
            [PYTHON, "manage.py", "replay_events", "--to", SUBSCRIBER, "--json"],
            replay_env,
        )
        result["replay"] = _drain_rate(pipe, stored, started, timeout=phase)
        result["replay"]["command_finished"] = not command.alive()
        command.stop()
        print(f"[replay]   {result['replay']}", flush=True)

        with psycopg.connect(pipe.target_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE copy_product (LIKE catalog_product INCLUDING ALL)")
        seconds = copy_products(pipe.target_url, "copy_product", events, set_sequence=False)
        result["copy"] = {"rows": events, "seconds": round(seconds, 2)}
        result["copy"]["rows_per_second"] = round(events / seconds, 1)
        print(f"[replay]   COPY {result['copy']}", flush=True)
    finally:
        group.stop_all()
        if not keep:
            pipe.teardown()
    copy_rate = result["copy"]["rows_per_second"]
    result["summary"] = {
        "over_copy": ratio(result["replay"]["events_per_second"], copy_rate),
        "backfill_over_copy": ratio(result["backfill"]["events_per_second"], copy_rate),
    }
    result["tables"] = [t.to_dict() for t in tables(result)]
    return result


def tables(result: dict[str, Any]) -> list[Table]:
    table = Table(
        f"Into an empty service projection: {result['events']:,} product events",
        ["path", "events/s", "applied", "seconds", "this / COPY"],
    )
    copy_rate = result["copy"]["rows_per_second"]
    for name in ("backfill", "replay"):
        row = result[name]
        table.add(
            f"{name} (kit, end to end)",
            row["events_per_second"],
            row["applied"],
            row["seconds"],
            ratio(row["events_per_second"], copy_rate),
        )
    table.add(
        "PostgreSQL COPY (the limit)",
        copy_rate,
        result["copy"]["rows"],
        result["copy"]["seconds"],
        1.0,
    )
    return [table]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds this may take")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep databases and queues")
    args = parser.parse_args(argv)
    result = run(args.events, Budget(args.budget), keep=args.keep)
    print_tables([Table.from_dict(t) for t in result["tables"]])
    print(f"\nwrote {write_result('replay', result, args.results_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
