"""Order reads."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from monolith.orders.models import Order, OrderLine


def _with_lines(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))


def order_list() -> QuerySet[Order]:
    """All orders with their lines prefetched, in id order."""
    return _with_lines(Order.objects.order_by("id"))


def order_get(*, order_id: int) -> Order:
    """One order with its lines; 404 when missing."""
    return get_object_or_404(_with_lines(Order.objects.all()), pk=order_id)
