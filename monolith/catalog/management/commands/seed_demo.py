"""`manage.py seed_demo`: fill the monolith with deterministic demo data, fast and repeatably."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monolith.common.seeding import SeedPlan, seed_demo


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from exc
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is negative; use 0 or more")
    return number


class Command(BaseCommand):
    help = (
        "Seed deterministic demo data: categories, products with stock, customers with addresses, "
        "and orders in every status with their reservations. Counts are targets: a second run "
        "with the same counts adds nothing (products are DEMO-000001..., customers "
        "customer000001@demo.example...), a larger count adds only the missing rows. Rows are "
        "bulk-inserted directly, NOT through the services and NOT through the outbox, like "
        "legacy data that predates the outbox: no integration events are recorded; stream the "
        "snapshots to consumers afterwards with the backfill command."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--products", type=_count, default=200, help="demo products (default 200)"
        )
        parser.add_argument(
            "--customers", type=_count, default=50, help="demo customers (default 50)"
        )
        parser.add_argument("--orders", type=_count, default=100, help="demo orders (default 100)")
        parser.add_argument(
            "--seed",
            type=int,
            default=42,
            help="random seed; the same seed and counts give the same data (default 42)",
        )
        parser.add_argument(
            "--batch-size",
            type=_count,
            default=2000,
            help="rows per bulk insert and per transaction (default 2000)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print what was inserted as one JSON object"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["orders"] and not (options["customers"] and options["products"]):
            raise CommandError("--orders needs --customers and --products above 0 to pick from.")
        plan = SeedPlan(
            products=options["products"],
            customers=options["customers"],
            orders=options["orders"],
            seed=options["seed"],
            batch_size=options["batch_size"],
        )
        as_json = options["json"]
        # With --json, stdout carries only the JSON; progress goes to stderr.
        progress_stream = self.stderr if as_json else self.stdout

        def progress(phase: str, done: int, total: int) -> None:
            progress_stream.write(f"{phase}: {done}/{total}")

        try:
            report = seed_demo(plan, progress=progress)
        except ValueError as exc:
            raise CommandError(f"{exc}.") from exc
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), sort_keys=True))
            return
        inserted = {k: v for k, v in report.as_dict().items() if k not in {"seconds", "timings"}}
        summary = ", ".join(f"{value} {name}" for name, value in inserted.items())
        self.stdout.write(self.style.SUCCESS(f"Inserted {summary} in {report.seconds:.1f}s."))
