"""`bench_write`: commit products at a steady rate; django-cqrs replicates each on commit."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from bench.peers.cqrs.master.management.commands.bench_load import product_row
from bench.workload import paced


class Command(BaseCommand):
    help = "Save RATE products per second for SECONDS seconds (ids from FIRST_ID), then exit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, required=True)
        parser.add_argument("--seconds", type=float, required=True)
        parser.add_argument("--first-id", type=int, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        first = options["first_id"]

        def write(index: int, count: int) -> None:
            with transaction.atomic():
                now = dt.datetime.now(dt.UTC)
                for n in range(first + index, first + index + count):
                    # save(), not bulk_create: the documented way django-cqrs replicates a write.
                    product_row(n, now).save(force_insert=True)

        run = paced(options["rate"], options["seconds"], write)
        self.stdout.write(
            json.dumps({"written": run.written, "seconds": round(run.seconds, 3)}), ending="\n"
        )
