"""Query-string filters of the orders' list endpoint."""

from __future__ import annotations

import django_filters

from monolith.orders.models import Order, OrderStatus

# An id within the database's bigint: anything else is a 400 naming the parameter, never an
# overflow in the query (a 500).
BIGINT_MAX = 2**63 - 1


class OrderFilter(django_filters.FilterSet):
    """?customer=&status=&created_after=&created_before="""

    customer = django_filters.NumberFilter(
        field_name="customer_id", min_value=1, max_value=BIGINT_MAX, decimal_places=0
    )
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["customer", "status", "created_after", "created_before"]
