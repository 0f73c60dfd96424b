"""Inventory writes of the service; refused until inventory is cut over to it.

Exactly one side writes a context at a time (no dual writes): the control database says which
(strangler.ownership). Until cutover the monolith is the writer and every write answers 409
(writes_owned_elsewhere); while a cutover runs, 503 (writes_frozen). After cutover the service
adjusts stock and records the same `inventory.stock.upserted` snapshots the monolith did, which
the monolith applies to its legacy table (reverse sync).

Ported by hand from monolith/inventory/services.py (docs/howto/extract-another-context.md):
`stock_adjust`. A stock item is created by the monolith with its product (the catalog), so
here an adjustment of an unknown SKU is refused. Reservations for orders stay with the monolith
until orders reserve stock through a saga.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from extracted.inventory.inventory import events
from extracted.inventory.inventory.models import StockAdjustment, StockItem
from strangler.api import DomainError
from strangler.outbox import record_event
from strangler.ownership.guard import require_writer

logger = logging.getLogger(__name__)

CONTEXT = "inventory"
MONOLITH_SERVICES = "monolith/inventory/services.py"


class WritesNotPorted(DomainError):
    """This service is the writer, but the write's business rules were not ported yet."""

    status_code = status.HTTP_501_NOT_IMPLEMENTED
    code = "not_ported"


class StockAdjustmentRejected(DomainError):
    """The adjustment would leave on-hand stock negative or below what is reserved."""

    code = "stock_adjustment_rejected"


def write_refused(operation: str) -> DomainError:
    """Why this service cannot perform `operation` (a write of the monolith's API) yet.

    Raises NotWriterError (409) or WritesFrozenError (503) while this side is not the writer.
    """
    require_writer(CONTEXT)
    return WritesNotPorted(
        f"{operation} is not ported to this service yet; port it from {MONOLITH_SERVICES}."
    )


@transaction.atomic
def stock_adjust(*, sku: str, delta: int, reason: str) -> StockItem:
    """Add (delta > 0) or remove (delta < 0) units on hand of a known SKU."""
    require_writer(CONTEXT)
    if delta == 0:
        raise ValidationError({"delta": ["An adjustment must change the stock (delta != 0)."]})
    stock = StockItem.objects.select_for_update().filter(sku=sku).first()
    if stock is None:
        raise ValidationError({"sku": [f"No stock item has the SKU {sku!r}."]})
    new_on_hand = stock.on_hand + delta
    if new_on_hand < 0:
        raise StockAdjustmentRejected(
            f"SKU {sku} has {stock.on_hand} on hand; removing {-delta} would make it negative."
        )
    if new_on_hand < stock.reserved:
        raise StockAdjustmentRejected(
            f"SKU {sku} has {stock.reserved} units reserved for orders; on hand cannot go below "
            f"that (requested {new_on_hand})."
        )
    stock.on_hand = new_on_hand
    # The model has no auto_now (the monolith's timestamps arrive with its events): set it here.
    stock.updated_at = timezone.now()
    stock.save(update_fields=["on_hand", "updated_at"])
    StockAdjustment.objects.create(
        stock_item=stock,
        delta=delta,
        reason=reason,
        on_hand_after=new_on_hand,
        created_at=stock.updated_at,
    )
    record_event(events.STOCK_UPSERTED, subject=stock.pk, data=events.stock_upserted_payload(stock))
    logger.info("stock adjusted", extra={"sku": sku, "delta": delta, "on_hand": new_on_hand})
    return stock
