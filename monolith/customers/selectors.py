"""Customer reads."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from monolith.customers.models import Address, Customer


def _with_addresses(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    return queryset.prefetch_related(Prefetch("addresses", queryset=Address.objects.order_by("id")))


def customers_visible_to(user: Any) -> QuerySet[Customer]:
    """Staff see every customer; anyone else only the customer linked to their user."""
    queryset = Customer.objects.order_by("id")
    if not user.is_staff:
        queryset = queryset.filter(user_id=user.pk)
    return queryset


def customer_list(*, user: Any) -> QuerySet[Customer]:
    """The customers `user` may see, with their addresses prefetched, in id order."""
    return _with_addresses(customers_visible_to(user))


def customer_get(*, customer_id: int, user: Any) -> Customer:
    """One customer `user` may see, with addresses; 404 when missing or someone else's."""
    return get_object_or_404(_with_addresses(customers_visible_to(user)), pk=customer_id)
