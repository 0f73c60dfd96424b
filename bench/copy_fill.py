"""Bulk fill of an empty service projection by the copy phase, against raw COPY of the same rows.

    .venv/bin/python -m bench.copy_fill [--rows 1000000]

The monolith (writer) holds N products (COPY); its code serves /internal/sync/ on loopback
(runserver). `extracted/catalog/manage.py copy_context catalog.product` fills the service's empty
projection from it and reconciles. Limits, in the same run: PostgreSQL COPY of the same N rows
from Python into an empty copy of the service's product table (what bench/replay.py calls COPY),
and a database-to-database COPY (`COPY ... TO STDOUT` piped into `COPY ... FROM STDIN`, no Python
per row). The event path (`backfill`) is measured by bench/replay.py in the same `make bench`.
Writes bench/results/copy_fill.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from bench.common import (
    PYTHON,
    BenchError,
    Budget,
    ProcessGroup,
    Table,
    base_env,
    databases,
    free_port,
    manage,
    print_tables,
    ratio,
    run_id,
    wait_until,
    work_dir,
    write_result,
)
from bench.workload import PRODUCT_COLUMNS, copy_products
from tests.processes import http_ok

TOKEN = "bench-copy-token"
SERVICE = "extracted/catalog/manage.py"


def pass_through_copy(source: str, target: str) -> float:
    """COPY the writer's products straight into an empty table of the service's database."""
    started = time.monotonic()
    with psycopg.connect(source) as a, psycopg.connect(target) as b:
        b.execute("CREATE TABLE pass_product (LIKE catalog_product INCLUDING ALL)")
        with (
            a.cursor() as out,
            b.cursor() as into,
            out.copy(f"COPY (SELECT {PRODUCT_COLUMNS} FROM catalog_product) TO STDOUT") as reader,
            into.copy(f"COPY pass_product ({PRODUCT_COLUMNS}) FROM STDIN") as writer,
        ):
            for block in reader:
                writer.write(block)
    return time.monotonic() - started


def run(rows: int, budget: Budget) -> dict[str, Any]:
    token = run_id()
    names = (f"bench_copy_w_{token}", f"bench_copy_r_{token}", f"bench_copy_c_{token}")
    group = ProcessGroup(work_dir(f"copy-{token}"))
    result: dict[str, Any] = {"rows": rows}
    try:
        with databases(*names) as urls:
            writer, reader, control = (urls[n] for n in names)
            port = free_port()
            env = base_env(
                DATABASE_URL=writer,
                CATALOG_DATABASE_URL=reader,
                STRANGLER_CONTROL_DATABASE_URL=control,
                STRANGLER_INTERNAL_TOKEN=TOKEN,
                MONOLITH_URL=f"http://127.0.0.1:{port}",
                LOG_LEVEL="WARNING",
            )
            manage(["migrate", "--no-input", "-v", "0"], env)
            manage(["migrate", "--database", "control", "--no-input", "-v", "0"], env)
            manage(["migrate", "--no-input", "-v", "0"], env, project=SERVICE)
            copy_products(writer, "catalog_product", rows)
            with psycopg.connect(writer, autocommit=True) as db:
                db.execute("VACUUM ANALYZE catalog_product")
            group.start(
                "writer",
                [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                env,
            )
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: http_ok(f"{base}/healthz"), timeout=60, what="the writer")
            print(f"[copy] copy_context of {rows:,} products", flush=True)
            started = time.monotonic()
            out = manage(
                ["copy_context", "catalog.product", "--no-declare", "--json", "-v", "0"],
                env,
                project=SERVICE,
                timeout=budget.bounded(3000),
            )
            wall = time.monotonic() - started
            report = json.loads(out)
            (copied,) = report["copy"]
            if not report["equal"] or copied["rows"] != rows:
                raise BenchError(f"the copy did not end equal: {json.dumps(report)[:3000]}")
            (reconciled,) = report["reconcile"]
            result["copy_phase"] = {
                **copied,
                "wall_seconds": round(wall, 2),
                "reconcile_seconds": reconciled["seconds"],
            }
            print(f"[copy]   {result['copy_phase']}", flush=True)
            with psycopg.connect(reader, autocommit=True) as db:
                db.execute("CREATE TABLE copy_product (LIKE catalog_product INCLUDING ALL)")
            seconds = copy_products(reader, "copy_product", rows, set_sequence=False)
            result["copy"] = {"rows": rows, "seconds": round(seconds, 2)}
            result["copy"]["rows_per_second"] = round(rows / seconds, 1)
            seconds = pass_through_copy(writer, reader)
            result["pass_through"] = {"rows": rows, "seconds": round(seconds, 2)}
            result["pass_through"]["rows_per_second"] = round(rows / seconds, 1)
            print(f"[copy]   COPY {result['copy']}, pass-through {result['pass_through']}")
    finally:
        group.stop_all()
    fill = result["copy_phase"]["rows_per_second"]
    result["summary"] = {
        "over_copy": ratio(fill, result["copy"]["rows_per_second"]),
        "over_pass_through": ratio(fill, result["pass_through"]["rows_per_second"]),
    }
    result["tables"] = [t.to_dict() for t in tables(result)]
    return result


def tables(result: dict[str, Any]) -> list[Table]:
    table = Table(
        f"Filling an empty service projection: {result['rows']:,} products",
        ["path", "rows/s", "seconds", "this / COPY"],
    )
    copy_rate = result["copy"]["rows_per_second"]
    phase = result["copy_phase"]
    table.add(
        "copy_context (writer COPY → HTTP → staging COPY → merge)",
        phase["rows_per_second"],
        phase["seconds"],
        ratio(phase["rows_per_second"], copy_rate),
    )
    table.add("  then reconcile (seconds)", None, phase["reconcile_seconds"], None)
    table.add("PostgreSQL COPY from Python (the limit)", copy_rate, result["copy"]["seconds"], 1.0)
    passed = result["pass_through"]
    table.add(
        "database-to-database COPY (no Python per row)",
        passed["rows_per_second"],
        passed["seconds"],
        ratio(passed["rows_per_second"], copy_rate),
    )
    return [table]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds this may take")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.rows, Budget(args.budget))
    print_tables([Table.from_dict(t) for t in result["tables"]])
    print(f"\nwrote {write_result('copy_fill', result, args.results_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
