"""Inventory writes of the service; refused until inventory is cut over to it.

Exactly one side writes a context at a time (no dual writes): the control database says which
(strangler.ownership). Until cutover the monolith is the writer and every write answers 409
(writes_owned_elsewhere); while a cutover runs, 503 (writes_frozen). After cutover the service
adjusts stock and records the same `inventory.stock.upserted` snapshots the monolith did, which
the monolith applies to its legacy table (reverse sync).

Ported by hand from monolith/inventory/services.py (docs/howto/extract-another-context.md):
`stock_adjust`. A stock item is created by the monolith with its product (the catalog), so
here an adjustment of an unknown SKU is refused.

Orders across the split (docs/adr/0012): once this service writes inventory, the monolith
places an order pending and this service answers its `orders.order.placed` by reserving the
stock, all or nothing, or refusing (`inventory.reservation.refused`); `orders.order.cancelled`
releases what the order holds. One OrderReservation row per order makes each answer happen once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from extracted.inventory.inventory import events
from extracted.inventory.inventory.models import (
    MAX_UNITS,
    OrderReservation,
    OrderReservationState,
    Reservation,
    StockAdjustment,
    StockItem,
)
from strangler.api import DomainError
from strangler.outbox import record_event
from strangler.ownership.guard import NotWriterError, require_writer

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
    if new_on_hand > MAX_UNITS:
        raise StockAdjustmentRejected(
            f"SKU {sku} has {stock.on_hand} on hand; adding {delta} would exceed the most a "
            f"stock item holds ({MAX_UNITS})."
        )
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


def _written_here() -> bool:
    """True when this service writes inventory now; WritesFrozenError while a cutover runs (the
    inbox retries the event shortly)."""
    try:
        require_writer(CONTEXT)
    except NotWriterError:
        return False
    return True


def _lock_stock(skus: Iterable[str]) -> dict[str, StockItem]:
    # Locked in id order so two transactions touching the same SKUs never deadlock.
    rows = StockItem.objects.select_for_update().filter(sku__in=set(skus)).order_by("pk")
    return {stock.sku: stock for stock in rows}


def _record_stock(stock: StockItem) -> None:
    record_event(events.STOCK_UPSERTED, subject=stock.pk, data=events.stock_upserted_payload(stock))


def _decide(order_id: int, state: str, detail: str = "") -> None:
    OrderReservation.objects.create(
        order_id=order_id, state=state, detail=detail, decided_at=timezone.now()
    )


@transaction.atomic
def order_stock_reserve(*, order_id: int, wanted: Mapping[str, int]) -> str | None:
    """Answer an order's placed event: hold `wanted` ({sku: units}) all or nothing and record
    `inventory.stock.reserved` per SKU, or record `inventory.reservation.refused` naming every
    short SKU. Returns the answer ("reserved" / "refused"), or None when there is nothing to do:
    this side does not write inventory (the monolith reserved in the order's transaction), or
    the order was answered, reserved by the monolith before the cutover, or cancelled already.
    """
    if not _written_here():
        return None
    # The unique order_id: a concurrent second answer waits here, then finds the first.
    if OrderReservation.objects.select_for_update().filter(order_id=order_id).exists():
        return None
    if Reservation.objects.filter(order_id=order_id).exists():  # held by the monolith
        return None
    stocks = _lock_stock(wanted)
    shortages = []
    for sku, quantity in sorted(wanted.items()):
        available = stocks[sku].available if sku in stocks else 0
        if quantity > available:
            shortages.append((sku, quantity, available))
    now = timezone.now()
    if shortages:
        reason = "not enough stock for: " + ", ".join(
            f"{sku} (requested {quantity}, available {available})"
            for sku, quantity, available in shortages
        )
        _decide(order_id, OrderReservationState.REFUSED, reason)
        record_event(
            events.RESERVATION_REFUSED,
            subject=order_id,
            data=events.reservation_refused_payload(order_id, reason, shortages),
        )
        logger.info("reservation refused", extra={"order_id": order_id, "reason": reason})
        return OrderReservationState.REFUSED
    _decide(order_id, OrderReservationState.RESERVED)
    for sku, quantity in sorted(wanted.items()):
        stock = stocks[sku]
        stock.reserved += quantity
        stock.updated_at = now
        stock.save(update_fields=["reserved", "updated_at"])
        reservation = Reservation.objects.create(
            order_id=order_id, stock_item=stock, sku=sku, quantity=quantity, created_at=now
        )
        record_event(
            events.STOCK_RESERVED,
            subject=stock.pk,
            data=events.reservation_payload(reservation),
        )
        _record_stock(stock)
    logger.info("stock reserved", extra={"order_id": order_id, "skus": sorted(wanted)})
    return OrderReservationState.RESERVED


@transaction.atomic
def order_stock_release(*, order_id: int) -> list[Reservation]:
    """Answer an order's cancelled event: give back every unit it holds (reserved here, or by the
    monolith before the cutover) and record `inventory.stock.released` for each. An order not
    answered yet is marked released, so its placed event, should it come later, reserves
    nothing. Does nothing while this side does not write inventory."""
    if not _written_here():
        return []
    decision = OrderReservation.objects.select_for_update().filter(order_id=order_id).first()
    if decision is None:
        _decide(order_id, OrderReservationState.RELEASED, "cancelled before its stock was held")
    elif decision.state == OrderReservationState.RESERVED:
        decision.state = OrderReservationState.RELEASED
        decision.save(update_fields=["state"])
    open_reservations = list(
        Reservation.objects.select_for_update()
        .filter(order_id=order_id, released=False, fulfilled=False)
        .order_by("pk")
    )
    stocks = {stock.pk: stock for stock in _lock_stock(r.sku for r in open_reservations).values()}
    now = timezone.now()
    for reservation in open_reservations:
        stock = stocks[reservation.stock_item_id]
        stock.reserved -= reservation.quantity
        stock.updated_at = now
        reservation.released = True
        reservation.closed_at = now
        reservation.save(update_fields=["released", "closed_at"])
    for stock in stocks.values():
        stock.save(update_fields=["reserved", "updated_at"])
    for reservation in open_reservations:
        record_event(
            events.STOCK_RELEASED,
            subject=reservation.stock_item_id,
            data=events.reservation_payload(reservation),
        )
    for stock in stocks.values():
        _record_stock(stock)
    return open_reservations
