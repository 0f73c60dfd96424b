"""Inventory reads."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404

from extracted.inventory.inventory.models import Reservation, StockAdjustment, StockItem


def stock_list() -> QuerySet[StockItem]:
    """All stock items with `available_units` annotated so it can be filtered and ordered on."""
    return StockItem.objects.annotate(available_units=F("on_hand") - F("reserved")).order_by("id")


def stock_get(*, stock_id: int) -> StockItem:
    """One stock item; 404 when missing."""
    return get_object_or_404(StockItem, pk=stock_id)


def stock_adjustment_list(*, stock: StockItem) -> QuerySet[StockAdjustment]:
    """The adjustment history of one stock item, newest first."""
    return stock.adjustments.order_by("-id")


def reservation_list(*, order_id: int) -> QuerySet[Reservation]:
    """Every reservation made for an order."""
    return Reservation.objects.filter(order_id=order_id).order_by("id")
