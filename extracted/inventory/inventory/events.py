"""Integration events of the inventory context: types and payload builders."""

from __future__ import annotations

from typing import Any

from extracted.inventory.common.payloads import utc_timestamp
from extracted.inventory.inventory.models import Reservation, StockItem

STOCK_UPSERTED = "inventory.stock.upserted"
STOCK_RESERVED = "inventory.stock.reserved"
STOCK_RELEASED = "inventory.stock.released"
RESERVATION_REFUSED = "inventory.reservation.refused"


def stock_upserted_payload(stock: StockItem) -> dict[str, Any]:
    """Full snapshot of a stock item."""
    return {
        "id": stock.pk,
        "product_id": stock.product_id,
        "sku": stock.sku,
        "on_hand": stock.on_hand,
        "reserved": stock.reserved,
        "available": stock.available,
        "updated_at": utc_timestamp(stock.updated_at),
    }


def reservation_payload(reservation: Reservation) -> dict[str, Any]:
    """Domain event data of `inventory.stock.reserved` and `inventory.stock.released`."""
    return {
        "stock_id": reservation.stock_item_id,
        "sku": reservation.sku,
        "order_id": reservation.order_id,
        "reservation_id": reservation.pk,
        "quantity": reservation.quantity,
    }


def reservation_refused_payload(
    order_id: int, reason: str, shortages: list[tuple[str, int, int]]
) -> dict[str, Any]:
    """Domain event data of `inventory.reservation.refused`: (sku, requested, available) each."""
    return {
        "order_id": order_id,
        "reason": reason,
        "shortages": [
            {"sku": sku, "requested": requested, "available": available}
            for sku, requested, available in shortages
        ],
    }
