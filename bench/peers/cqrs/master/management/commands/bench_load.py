"""`bench_load`: insert a backlog of products unreplicated (bulk_create sends nothing)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bench.peers.cqrs.master.models import Product
from bench.workload import chunks, product_snapshot


def product_row(product_id: int, stamped_at: dt.datetime) -> Product:
    """The master row of the same snapshot every pipeline of bench/sync.py moves."""
    data = product_snapshot(product_id)
    return Product(
        id=product_id,
        sku=data["sku"],
        name=data["name"],
        description=data["description"],
        price=data["price"],
        currency=data["currency"],
        category_id=data["category_id"],
        active=data["active"],
        created_at=dt.datetime.fromisoformat(data["created_at"]),
        updated_at=dt.datetime.fromisoformat(data["updated_at"]),
        stamped_at=stamped_at,
    )


class Command(BaseCommand):
    help = "Insert COUNT products from FIRST_ID on, unreplicated, as the backlog cqrs_sync sends."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--first-id", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        now = dt.datetime.now(dt.UTC)
        first = options["first_id"]
        for offset, count in chunks(options["count"], 5000):
            start = first + offset
            Product.objects.bulk_create([product_row(n, now) for n in range(start, start + count)])
        self.stdout.write(f"inserted {options['count']} products")
