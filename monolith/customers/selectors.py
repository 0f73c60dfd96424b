"""Customer reads."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from monolith.customers.models import Address, Customer


def _with_addresses(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    return queryset.prefetch_related(Prefetch("addresses", queryset=Address.objects.order_by("id")))


def customer_list() -> QuerySet[Customer]:
    """All customers with their addresses prefetched, in id order."""
    return _with_addresses(Customer.objects.order_by("id"))


def customer_get(*, customer_id: int) -> Customer:
    """One customer with addresses; 404 when missing."""
    return get_object_or_404(_with_addresses(Customer.objects.all()), pk=customer_id)
