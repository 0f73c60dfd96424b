"""The catalog service's handlers with a defect: product prices are stored ten times too high."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from extracted.catalog.catalog.handlers import HANDLERS as FIXED_HANDLERS
from strangler.inbox.handlers import batch_handler


def _tenfold(event: Any) -> Any:
    data = {**event.data, "price": str(Decimal(event.data["price"]) * 10)}
    return dataclasses.replace(event, data=data)


@batch_handler
def apply_products_upserted_with_a_bug(events: list[Any]) -> None:
    FIXED_HANDLERS["catalog.product.upserted"]([_tenfold(event) for event in events])


HANDLERS = {**FIXED_HANDLERS, "catalog.product.upserted": apply_products_upserted_with_a_bug}
