"""Query-string filters of the inventory's list endpoints."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from extracted.inventory.inventory.models import StockItem

# Whole numbers within the database's bigint: anything else is a 400 naming the parameter, never
# an overflow in the query (a 500).
BIGINT_MAX = 2**63 - 1


@extend_schema_field(OpenApiTypes.NUMBER)
class ProductIdFilter(django_filters.NumberFilter):
    """The monolith filters on its foreign key, which its schema documents as a number; here
    `product_id` is a plain bigint column. Same filter, same contract (a hand edit)."""


class StockFilter(django_filters.FilterSet):
    """?sku=&product=&max_available= (low-stock reports)."""

    sku = django_filters.CharFilter(field_name="sku", lookup_expr="iexact")
    product = ProductIdFilter(
        field_name="product_id", min_value=1, max_value=BIGINT_MAX, decimal_places=0
    )
    max_available = django_filters.NumberFilter(
        field_name="available_units",
        lookup_expr="lte",
        min_value=-BIGINT_MAX,
        max_value=BIGINT_MAX,
        decimal_places=0,
    )

    class Meta:
        model = StockItem
        fields = ["sku", "product", "max_available"]
