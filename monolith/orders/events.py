"""Integration events of the orders context: types and payload builders."""

from __future__ import annotations

from typing import Any

from monolith.common.payloads import money_text, utc_timestamp
from monolith.orders.models import Order, OrderLine

ORDER_UPSERTED = "orders.order.upserted"
ORDER_PLACED = "orders.order.placed"
ORDER_CANCELLED = "orders.order.cancelled"


def _line(line: OrderLine) -> dict[str, Any]:
    return {
        "id": line.pk,
        "product_id": line.product_id,
        "sku": line.sku,
        "quantity": line.quantity,
        "unit_price": money_text(line.unit_price),
    }


def _lines(order: Order) -> list[dict[str, Any]]:
    return [_line(line) for line in sorted(order.lines.all(), key=lambda line: line.pk)]


def order_upserted_payload(order: Order) -> dict[str, Any]:
    """Full snapshot of an order with its lines."""
    return {
        "id": order.pk,
        "customer_id": order.customer_id,
        "status": order.status,
        "total": money_text(order.total),
        "currency": order.currency,
        "created_at": utc_timestamp(order.created_at),
        "updated_at": utc_timestamp(order.updated_at),
        "lines": _lines(order),
    }


def order_placed_payload(order: Order) -> dict[str, Any]:
    """Domain event: a customer placed an order (what was bought, at which prices)."""
    return {
        "order_id": order.pk,
        "customer_id": order.customer_id,
        "total": money_text(order.total),
        "currency": order.currency,
        "placed_at": utc_timestamp(order.created_at),
        "lines": _lines(order),
    }


def order_cancelled_payload(order: Order, *, previous_status: str, reason: str) -> dict[str, Any]:
    """Domain event: an order was cancelled and its stock released."""
    return {
        "order_id": order.pk,
        "customer_id": order.customer_id,
        "previous_status": previous_status,
        "reason": reason,
        "cancelled_at": utc_timestamp(order.updated_at),
    }
