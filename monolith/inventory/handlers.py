"""Reverse sync: the inventory service's stock snapshots applied to the monolith's legacy table.

After inventory is cut over to its service, the service adjusts stock and publishes
`inventory.stock.upserted`; this keeps `inventory_stockitem` (which orders and the admin still
read) equal to the service's rows, one statement per run of events. The inbox runs it with outbox
capture suppressed, and `foreign_events_only` skips the events the monolith published itself.
"""

from __future__ import annotations

from django.utils.dateparse import parse_datetime

from monolith.inventory.models import StockItem
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


HANDLERS = foreign_events_only({"inventory.stock.upserted": apply_stock_upserted})
