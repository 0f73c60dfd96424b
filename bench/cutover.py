"""Cutover of the catalog with 100,000 products: how long the command takes, how long writes freeze.

Real processes (monolith and catalog service: web server, relay and consumer each) on PostgreSQL
and RabbitMQ. The monolith's catalog is filled by COPY, the service fills itself from it with
the copy phase (`copy_context catalog`), then `cutover catalog --to service` runs while a client
keeps writing (retrying on 503, following the writer on 409), and `cutover catalog --to monolith`
rolls it back.

    python -m bench.cutover [--products 100000] [--budget 900]

Writes bench/results/cutover.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from bench.common import (
    POSTGRES_URL,
    RABBITMQ_URL,
    BenchError,
    Budget,
    ProcessGroup,
    Table,
    print_tables,
    wait_until,
    work_dir,
    write_result,
)
from tests.e2e.cutover_stack import CutoverStack, SteadyWriter, cutover_stack


def fill_monolith(stack: CutoverStack, products: int) -> float:
    """COPY `products` rows into the monolith's catalog; seconds taken."""
    started = time.monotonic()
    with psycopg.connect(stack.monolith_db.url) as db, db.cursor() as cursor:
        columns = "sku, name, description, price, currency, active, created_at, updated_at"
        with cursor.copy(f"COPY catalog_product ({columns}) FROM STDIN") as copy:
            for index in range(products):
                copy.write_row(
                    (
                        f"BENCH-{index}",
                        f"Product {index}",
                        "bench",
                        f"{index % 900 + 1}.99",
                        "EUR",
                        True,
                        "2026-01-01T00:00:00Z",
                        "2026-01-01T00:00:00Z",
                    )
                )
    return time.monotonic() - started


def cutover(stack: CutoverStack, to: str, run_on: str) -> dict[str, Any]:
    started = time.monotonic()
    done = stack.manage(run_on, "cutover", "catalog", "--to", to, "--timeout", "600", "--json")
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"cutover --to {to} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout[done.stdout.index("\n{") :])
    steps = {
        entry["step"]: entry["detail"]["seconds"]
        for entry in result["steps"]
        if entry["event"] == "done"
    }
    return {"wall_seconds": wall, **result, "step_seconds": steps}


def run(products: int, budget: Budget) -> dict[str, Any]:
    group = ProcessGroup(work_dir("cutover"))
    try:
        with cutover_stack(
            group,
            postgres_url=POSTGRES_URL,
            rabbitmq_url=RABBITMQ_URL,
            tmp_path=work_dir("cutover"),
        ) as stack:
            copy_seconds = fill_monolith(stack, products)
            print(
                f"copied {products:,} products into the monolith in {copy_seconds:.1f}s", flush=True
            )
            started = time.monotonic()
            done = stack.manage(
                "catalog-service", "copy_context", "catalog", "--json", timeout=budget.remaining()
            )
            if done.returncode != 0:
                raise BenchError(f"copy_context failed:\n{done.stdout}\n{done.stderr}")
            wait_until(
                lambda: stack.service_db.scalar("SELECT count(*) FROM catalog_product") >= products,
                timeout=budget.bounded(600),
                interval=1.0,
                what="the service to hold the copied products",
            )
            stack.wait_stores_equal(timeout=budget.bounded(300))
            sync_seconds = time.monotonic() - started
            print(f"copied and synced in {sync_seconds:.1f}s", flush=True)

            results = {}
            for to, run_on in (("service", "monolith"), ("monolith", "catalog-service")):
                writer = SteadyWriter(
                    stack, prefix=f"W{to}", max_seconds=budget.bounded(300), pause=0.02
                )
                writer.start()
                writer.wait_for_writes(writer.writes + 20)
                before = writer.writes
                measured = cutover(stack, to, run_on)
                writer.wait_for_writes(before + 20)
                writer.stop()
                if writer.errors:
                    raise BenchError(f"the writer failed: {writer.errors}")
                measured["client_longest_write_seconds"] = writer.longest_wait
                measured["client_503_answers"] = writer.frozen_answers
                results[to] = measured
                print(
                    f"cutover to {to}: {measured['wall_seconds']:.2f}s, writes frozen "
                    f"{measured['frozen_seconds']:.2f}s",
                    flush=True,
                )
            stack.wait_stores_equal(timeout=budget.bounded(300))
            return {
                "products": products,
                "copy_seconds": copy_seconds,
                "sync_seconds": sync_seconds,
                "cutovers": results,
            }
    finally:
        group.stop_all()


def tables(result: dict[str, Any]) -> list[Table]:
    summary = Table(
        f"cutover of the catalog, {result['products']:,} products (PostgreSQL, RabbitMQ)",
        ["direction", "command s", "frozen s", "longest client write s", "503 answers"],
    )
    steps = Table(
        "seconds per step", ["direction", *next(iter(result["cutovers"].values()))["step_seconds"]]
    )
    for to, measured in result["cutovers"].items():
        summary.add(
            f"to {to}",
            measured["wall_seconds"],
            measured["frozen_seconds"],
            measured["client_longest_write_seconds"],
            measured["client_503_answers"],
        )
        steps.add(f"to {to}", *measured["step_seconds"].values())
    return [summary, steps]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds the run may take")
    args = parser.parse_args(argv)
    budget = Budget(args.budget)
    result = run(args.products, budget)
    found = tables(result)
    print_tables(found)
    path = write_result("cutover", {**result, "tables": [t.to_dict() for t in found]})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
