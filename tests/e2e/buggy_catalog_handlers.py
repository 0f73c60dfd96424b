"""The catalog service's handlers with a defect in the product handler (a bad release)."""

from __future__ import annotations

from typing import Any

from extracted.catalog.catalog.handlers import HANDLERS as FIXED_HANDLERS


class HandlerBug(RuntimeError):
    """The defect this release ships with."""


def apply_product_upserted_with_a_bug(event: Any) -> None:
    raise HandlerBug(f"product {event.subject}: price parsing is broken in this release")


HANDLERS = {**FIXED_HANDLERS, "catalog.product.upserted": apply_product_upserted_with_a_bug}
