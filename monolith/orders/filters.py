"""Query-string filters of the orders' list endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from rest_framework.exceptions import ValidationError

from monolith.orders.models import Order, OrderStatus
from strangler.api import IdFilter


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, compared in UTC: PostgreSQL refuses offsets beyond ±15:59 that
    ISO 8601 (and Python) allow, and a time near year 1 or 9999 may not exist in UTC."""

    def filter(self, qs: Any, value: datetime | None) -> Any:
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise ValidationError(
                    {self.field_name: ["This date-time is out of the supported range."]}
                ) from None
        return super().filter(qs, value)


class OrderFilter(django_filters.FilterSet):
    """?customer=&status=&created_after=&created_before="""

    customer = IdFilter(field_name="customer_id")
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["customer", "status", "created_after", "created_before"]
