"""Query-string filters of the orders' list endpoint."""

from __future__ import annotations

import django_filters

from monolith.orders.models import Order, OrderStatus
from strangler.api import IdFilter


class OrderFilter(django_filters.FilterSet):
    """?customer=&status=&created_after=&created_before="""

    customer = IdFilter(field_name="customer_id")
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["customer", "status", "created_after", "created_before"]
