"""Reverse sync: the inventory service's stock snapshots and reservations applied to the
monolith's legacy tables.

After inventory is cut over to its service, the service adjusts stock and publishes
`inventory.stock.upserted`; this keeps `inventory_stockitem` (which orders and the admin still
read) equal to the service's rows, one statement per run of events. The inbox runs it with outbox
capture suppressed, and `foreign_events_only` skips the events the monolith published itself.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from monolith.inventory.models import Reservation, StockItem
from strangler.contracts.envelope import Envelope
from strangler.db import upsert_rows
from strangler.inbox.handlers import batch_handler, newest_per_key
from strangler.ownership.echo import foreign_events_only

STOCK_FIELDS = ("id", "product", "sku", "on_hand", "reserved", "updated_at")


@batch_handler
def apply_stock_upserted(events: list[Envelope]) -> None:
    """Create or replace stock items with the service's newest snapshots (same ids both sides)."""
    newest = newest_per_key(events, key=lambda event: event.data["id"])
    rows = [
        (
            data["id"],
            data["product_id"],
            data["sku"],
            data["on_hand"],
            data["reserved"],
            parse_datetime(data["updated_at"]),
        )
        for data in (event.data for event in newest)
    ]
    upsert_rows(StockItem, STOCK_FIELDS, rows, conflict=("id",), update=STOCK_FIELDS[1:])


def project_stock_reserved(event: Envelope) -> None:
    """The service held units for an order: the legacy reservation row (one per order and SKU;
    ids are each side's own), which the stock snapshot's `reserved` already counts."""
    data = event.data
    Reservation.objects.update_or_create(
        order_id=data["order_id"],
        sku=data["sku"],
        defaults={"stock_item_id": data["stock_id"], "quantity": data["quantity"]},
    )


def apply_stock_released(event: Envelope) -> None:
    """The service gave an order's units back: its legacy reservation row is closed."""
    data = event.data
    Reservation.objects.filter(
        order_id=data["order_id"], sku=data["sku"], released=False, fulfilled=False
    ).update(released=True, closed_at=timezone.now())


# inventory.stock.reserved is applied with the order's saga (monolith/orders/handlers.py).
HANDLERS = foreign_events_only(
    {
        "inventory.stock.upserted": apply_stock_upserted,
        "inventory.stock.released": apply_stock_released,
    }
)
