"""Cutover of the catalog with 100,000 products: how long the command takes, how long writes freeze,
and how many 503s clients see through the gateway with and without holding writes across it.

Real processes (monolith and catalog service: web server, relay and consumer each) on PostgreSQL
and RabbitMQ. The monolith's catalog is filled by COPY, the service fills itself from it with
the copy phase (`copy_context catalog`, ADR 0010), then `cutover catalog --to service` runs while
two clients keep writing through two gateways that follow the writer: one with
FREEZE_HOLD_SECONDS 0 (every frozen write answered 503 at once: before), one holding writes
across the freeze (after). Both retry a 503 shortly. `cutover catalog --to monolith` rolls it
back the same way. Each gateway's metrics tell how many instances it ejected and how many
breakers it opened meanwhile: the freeze's 503s are intended answers, so both must stay 0.

    python -m bench.cutover [--products 100000] [--hold-seconds 5] [--budget 900]

Writes bench/results/cutover.json (or --results-dir).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
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
    work_dir,
    write_result,
)
from tests.e2e.cutover_stack import CutoverStack, cutover_stack
from tests.e2e.gateway_front import GatewayFront, GatewayWriter

# The two clients of each cutover: through a gateway that answers a frozen write at once, and
# through one that holds it (FREEZE_HOLD_SECONDS).
CLIENTS = ("hold_off", "hold_on")


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


def gateway_counts(gateway: GatewayFront) -> dict[str, float]:
    """Counters of one gateway so far: ejections, breakers opened, held writes by outcome."""
    metrics = gateway.metrics()

    def total(name: str, **wanted: str) -> float:
        return sum(
            value
            for labels, value in metrics.get(name, {}).items()
            if all((key, wanted[key]) in labels for key in wanted)
        )

    return {
        "ejections": total("gateway_instance_ejections_total"),
        "circuit_opens": total("gateway_circuit_opened_total"),
        "held_sent": total("gateway_held_writes_total", outcome="sent"),
        "held_expired": total("gateway_held_writes_total", outcome="expired"),
    }


def client_numbers(
    writer: GatewayWriter, before: dict[str, float], after: dict[str, float]
) -> dict[str, Any]:
    """What one client saw during one cutover, and what its gateway counted meanwhile."""
    return {
        "writes": writer.writes,
        "answers_503": writer.frozen_answers,
        "writes_refused": writer.refused_writes,
        "longest_write_seconds": writer.longest_wait,
        "redirects": writer.redirects,
        **{key: int(after[key] - before[key]) for key in after},
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers: 503s a client saw without and with the hold, over both cutovers;
    instances ejected and breakers opened by either gateway (both must be 0)."""
    cutovers = result["cutovers"].values()

    def over_both(client: str, key: str) -> int:
        return sum(measured["clients"][client][key] for measured in cutovers)

    off, on = over_both("hold_off", "answers_503"), over_both("hold_on", "answers_503")
    return {
        "products": result["products"],
        "fill_seconds": round(result["sync_seconds"], 2),
        "fill_rows_per_second": result["copy_phase"]["rows_per_second"],
        "answers_503_hold_off": off,
        "answers_503_hold_on": on,
        # None when no write met the freeze without the hold: nothing to compare.
        "answers_503_on_over_off": round(on / off, 3) if off else None,
        "writes_refused_hold_off": over_both("hold_off", "writes_refused"),
        "writes_refused_hold_on": over_both("hold_on", "writes_refused"),
        "held_writes_sent": over_both("hold_on", "held_sent"),
        "ejections": sum(over_both(client, "ejections") for client in CLIENTS),
        "circuit_opens": sum(over_both(client, "circuit_opens") for client in CLIENTS),
        "cutover_seconds_max": round(max(m["wall_seconds"] for m in cutovers), 2),
        "frozen_seconds_max": max(m["frozen_seconds"] for m in cutovers),
    }


def run(
    products: int, hold_seconds: float, budget: Budget, *, name_prefix: str = "bench-cut"
) -> dict[str, Any]:
    group = ProcessGroup(work_dir("cutover"))
    # The stack makes the identity keys of this run; a previous run's are not reused.
    shutil.rmtree(work_dir("cutover") / "identity", ignore_errors=True)
    try:
        with cutover_stack(
            group,
            postgres_url=POSTGRES_URL,
            rabbitmq_url=RABBITMQ_URL,
            tmp_path=work_dir("cutover"),
            name_prefix=name_prefix,
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
            copied = json.loads(done.stdout[done.stdout.index("{") :])
            if not copied["equal"]:
                raise BenchError(f"copy_context ended with drift:\n{done.stdout[-3000:]}")
            product_run = next(r for r in copied["copy"] if r["aggregate"] == "catalog.product")
            stack.wait_stores_equal(timeout=budget.bounded(300))
            sync_seconds = time.monotonic() - started
            print(
                f"copy phase: {product_run['rows']:,} products at "
                f"{product_run['rows_per_second']:,.0f} rows/s; copied, reconciled and equal "
                f"in {sync_seconds:.1f}s",
                flush=True,
            )

            folder = work_dir("cutover") / "gateways"
            gateways = {
                client: GatewayFront(
                    stack,
                    group,
                    folder,
                    name=f"gateway-{client.replace('_', '-')}",
                    hold_seconds=hold_seconds if client == "hold_on" else 0.0,
                )
                for client in CLIENTS
            }
            results = {}
            for to, run_on in (("service", "monolith"), ("monolith", "catalog-service")):
                writers = {
                    client: GatewayWriter(
                        stack,
                        gateways[client],
                        prefix=f"W{to}-{client}",
                        max_seconds=budget.bounded(300),
                        pause=0.02,
                    )
                    for client in CLIENTS
                }
                for writer in writers.values():
                    writer.start()
                for writer in writers.values():
                    writer.wait_for_writes(writer.writes + 20)
                before = {client: writer.writes for client, writer in writers.items()}
                counted = {client: gateway_counts(gateways[client]) for client in CLIENTS}
                measured = cutover(stack, to, run_on)
                for client, writer in writers.items():
                    writer.wait_for_writes(before[client] + 20)
                for writer in writers.values():
                    writer.stop()
                failed = {c: w.errors for c, w in writers.items() if w.errors}
                if failed:
                    raise BenchError(f"a writer failed: {failed}")
                measured["clients"] = {
                    client: client_numbers(
                        writer, counted[client], gateway_counts(gateways[client])
                    )
                    for client, writer in writers.items()
                }
                results[to] = measured
                off, on = (measured["clients"][c] for c in CLIENTS)
                print(
                    f"cutover to {to}: {measured['wall_seconds']:.2f}s, writes frozen "
                    f"{measured['frozen_seconds']:.2f}s; client 503s without the hold "
                    f"{off['answers_503']} ({off['writes_refused']} writes), with it "
                    f"{on['answers_503']} ({on['writes_refused']} writes, {on['held_sent']} "
                    f"held and sent); instances ejected {off['ejections'] + on['ejections']}",
                    flush=True,
                )
            stack.wait_stores_equal(timeout=budget.bounded(300))
            result = {
                "products": products,
                "copy_seconds": copy_seconds,
                "sync_seconds": sync_seconds,
                "copy_phase": product_run,
                "freeze_hold_seconds": hold_seconds,
                "cutovers": results,
            }
            return {**result, "summary": summarize(result)}
    finally:
        group.stop_all()


def tables(result: dict[str, Any]) -> list[Table]:
    fill = Table(
        f"filling the service with {result['products']:,} products",
        ["path", "seconds", "rows/s"],
    )
    phase = result.get("copy_phase")
    if phase:
        fill.add("copy_context (copy, catch up, reconcile)", result["sync_seconds"], None)
        fill.add("  of which the copy", phase["seconds"], phase["rows_per_second"])
    summary = Table(
        f"cutover of the catalog, {result['products']:,} products (PostgreSQL, RabbitMQ)",
        ["direction", "command s", "frozen s"],
    )
    hold = result.get("freeze_hold_seconds")
    clients = Table(
        f"clients writing through the gateway during the cutover (hold: {hold:g} s)"
        if hold is not None
        else "clients writing during the cutover",
        [
            "direction",
            "hold",
            "writes",
            "503 answers",
            "writes that met a 503",
            "held, then sent",
            "longest write s",
            "instances ejected",
            "breakers opened",
        ],
    )
    steps = Table(
        "seconds per step", ["direction", *next(iter(result["cutovers"].values()))["step_seconds"]]
    )
    for to, measured in result["cutovers"].items():
        summary.add(f"to {to}", measured["wall_seconds"], measured["frozen_seconds"])
        for client, numbers in measured.get("clients", {}).items():
            clients.add(
                f"to {to}",
                "on" if client == "hold_on" else "off",
                numbers["writes"],
                numbers["answers_503"],
                numbers["writes_refused"],
                numbers.get("held_sent"),
                numbers["longest_write_seconds"],
                numbers.get("ejections"),
                numbers.get("circuit_opens"),
            )
        steps.add(f"to {to}", *measured["step_seconds"].values())
    return [*([fill] if phase else []), summary, clients, steps]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument(
        "--hold-seconds",
        type=float,
        default=5.0,
        help="FREEZE_HOLD_SECONDS of the gateway that holds writes (the kit's default)",
    )
    parser.add_argument("--budget", type=float, default=900.0, help="seconds the run may take")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument(
        "--name-prefix",
        default="bench-cut",
        help="names of this run's databases (with _), exchange and queues start with it",
    )
    args = parser.parse_args(argv)
    budget = Budget(args.budget)
    started = time.monotonic()
    result = run(args.products, args.hold_seconds, budget, name_prefix=args.name_prefix)
    result["seconds"] = round(time.monotonic() - started, 1)
    found = tables(result)
    print_tables(found)
    document = {**result, "tables": [t.to_dict() for t in found]}
    print(f"\nwrote {write_result('cutover', document, args.results_dir)} in {result['seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
