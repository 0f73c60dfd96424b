"""Inventory writes: adjustments, and reservations made, released or fulfilled for orders."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from monolith.catalog.models import Product
from monolith.inventory import events
from monolith.inventory.models import MAX_UNITS, Reservation, StockAdjustment, StockItem
from strangler.api import DomainError
from strangler.outbox import record_event
from strangler.ownership.guard import require_writer

logger = logging.getLogger(__name__)


class InsufficientStock(DomainError):
    """Not enough available units of one or more SKUs to reserve."""

    code = "insufficient_stock"


class StockAdjustmentRejected(DomainError):
    """The adjustment would leave on-hand stock negative or below what is reserved."""

    code = "stock_adjustment_rejected"


@dataclass(frozen=True)
class StockRequest:
    """Units of one SKU an order wants held."""

    sku: str
    quantity: int


def _record_stock(stock: StockItem) -> None:
    record_event(events.STOCK_UPSERTED, subject=stock.pk, data=events.stock_upserted_payload(stock))


def _lock_stock(ids: Iterable[int]) -> dict[int, StockItem]:
    # Locked in id order so two transactions touching the same SKUs never deadlock.
    rows = StockItem.objects.select_for_update().filter(pk__in=set(ids)).order_by("pk")
    return {stock.pk: stock for stock in rows}


@transaction.atomic
def stock_adjust(*, sku: str, delta: int, reason: str) -> StockItem:
    """Add (delta > 0) or remove (delta < 0) units on hand; creates the stock item on first use."""
    require_writer("inventory")
    if delta == 0:
        raise ValidationError({"delta": ["An adjustment must change the stock (delta != 0)."]})
    stock = StockItem.objects.select_for_update().filter(sku=sku).first()
    if stock is None:
        product = Product.objects.filter(sku=sku).only("pk", "sku").first()
        if product is None:
            raise ValidationError({"sku": [f"No product has the SKU {sku!r}."]})
        stock, _ = StockItem.objects.get_or_create(product=product, defaults={"sku": sku})
        stock = StockItem.objects.select_for_update().get(pk=stock.pk)
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
    stock.save(update_fields=["on_hand", "updated_at"])
    StockAdjustment.objects.create(
        stock_item=stock, delta=delta, reason=reason, on_hand_after=new_on_hand
    )
    _record_stock(stock)
    logger.info("stock adjusted", extra={"sku": sku, "delta": delta, "on_hand": new_on_hand})
    return stock


@transaction.atomic
def stock_reserve(*, order_id: int, requests: Sequence[StockRequest]) -> list[Reservation]:
    """Hold units for an order, all or nothing; raises InsufficientStock naming every short SKU."""
    wanted: dict[str, int] = {}
    for request in requests:
        if request.quantity <= 0:
            raise ValidationError({"quantity": ["Reserve at least one unit."]})
        wanted[request.sku] = wanted.get(request.sku, 0) + request.quantity
    ids = StockItem.objects.filter(sku__in=wanted).values_list("pk", flat=True)
    by_sku = {stock.sku: stock for stock in _lock_stock(ids).values()}
    shortages = []
    for sku, quantity in sorted(wanted.items()):
        available = by_sku[sku].available if sku in by_sku else 0
        if quantity > available:
            shortages.append(f"{sku} (requested {quantity}, available {available})")
    if shortages:
        raise InsufficientStock("Not enough stock for: " + ", ".join(shortages) + ".")
    reservations = []
    for sku, quantity in wanted.items():
        stock = by_sku[sku]
        stock.reserved += quantity
        stock.save(update_fields=["reserved", "updated_at"])
        reservations.append(
            Reservation(order_id=order_id, stock_item=stock, sku=sku, quantity=quantity)
        )
    reservations = Reservation.objects.bulk_create(reservations)
    for reservation in reservations:
        record_event(
            events.STOCK_RESERVED,
            subject=reservation.stock_item_id,
            data=events.reservation_payload(reservation),
        )
        _record_stock(by_sku[reservation.sku])
    return reservations


def _close_open_reservations(order_id: int, *, fulfil: bool) -> list[Reservation]:
    open_reservations = list(
        Reservation.objects.select_for_update()
        .filter(order_id=order_id, released=False, fulfilled=False)
        .order_by("pk")
    )
    stocks = _lock_stock(r.stock_item_id for r in open_reservations)
    now = timezone.now()
    for reservation in open_reservations:
        stock = stocks[reservation.stock_item_id]
        stock.reserved -= reservation.quantity
        if fulfil:
            stock.on_hand -= reservation.quantity
            reservation.fulfilled = True
        else:
            reservation.released = True
        reservation.closed_at = now
        reservation.save(update_fields=["released", "fulfilled", "closed_at"])
    for stock in stocks.values():
        stock.save(update_fields=["on_hand", "reserved", "updated_at"])
    for reservation in open_reservations:
        if not fulfil:
            record_event(
                events.STOCK_RELEASED,
                subject=reservation.stock_item_id,
                data=events.reservation_payload(reservation),
            )
    for stock in stocks.values():
        _record_stock(stock)
    return open_reservations


@transaction.atomic
def stock_release(*, order_id: int) -> list[Reservation]:
    """Give back the units an order still holds (it was cancelled)."""
    return _close_open_reservations(order_id, fulfil=False)


@transaction.atomic
def stock_fulfil(*, order_id: int) -> list[Reservation]:
    """The order shipped: its held units leave the warehouse (on hand and reserved both drop)."""
    return _close_open_reservations(order_id, fulfil=True)
