"""Order reads."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from monolith.orders.models import Order, OrderLine


def _with_lines(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))


def orders_visible_to(user: Any) -> QuerySet[Order]:
    """Staff see every order; anyone else only the orders of the customer linked to them."""
    queryset = Order.objects.order_by("id")
    if not user.is_staff:
        queryset = queryset.filter(customer__user_id=user.pk)
    return queryset


def order_list(*, user: Any) -> QuerySet[Order]:
    """The orders `user` may see, with their lines prefetched, in id order."""
    return _with_lines(orders_visible_to(user))


def order_get(*, order_id: int, user: Any) -> Order:
    """One order `user` may see, with its lines; 404 when missing or someone else's."""
    return get_object_or_404(_with_lines(orders_visible_to(user)), pk=order_id)
