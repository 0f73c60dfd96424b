"""Inbox handlers of orders: the inventory service's answers to an order's stock saga.

Once inventory is written by its service, an order placed here waits for the service to reserve
its stock (monolith/orders/services.py). The service answers with `inventory.stock.reserved`
(one per SKU, all recorded in one transaction: the first one means the whole order is held) or
`inventory.reservation.refused`. The inbox drops a redelivered answer by its event id, and a
saga that already ended turns a replayed or late answer into nothing.
"""

from __future__ import annotations

from monolith.inventory.handlers import project_stock_reserved
from monolith.orders.services import order_stock_confirmed, order_stock_refused
from strangler.contracts.envelope import Envelope
from strangler.outbox.services import outbox_capture_resumed
from strangler.ownership.echo import foreign_events_only


def apply_stock_reserved(event: Envelope) -> None:
    """Units were held for an order: the legacy reservation row, and the order is confirmed."""
    project_stock_reserved(event)
    order_stock_confirmed(order_id=event.data["order_id"])


def apply_reservation_refused(event: Envelope) -> None:
    """The service could not hold the order's stock: the order is rejected.

    Rejecting is this side's own write of its own context (not a copy of the service's), so its
    events (orders.order.cancelled, orders.order.upserted) are recorded and published.
    """
    with outbox_capture_resumed():
        order_stock_refused(order_id=event.data["order_id"], reason=event.data["reason"])


HANDLERS = foreign_events_only(
    {
        "inventory.stock.reserved": apply_stock_reserved,
        "inventory.reservation.refused": apply_reservation_refused,
    }
)
