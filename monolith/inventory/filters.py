"""Query-string filters of the inventory's list endpoints."""

from __future__ import annotations

import django_filters

from monolith.inventory.models import StockItem
from strangler.api import IdFilter, WholeNumberFilter


class StockFilter(django_filters.FilterSet):
    """?sku=&product=&max_available= (low-stock reports)."""

    sku = django_filters.CharFilter(field_name="sku", lookup_expr="iexact")
    product = IdFilter(field_name="product_id")
    max_available = WholeNumberFilter(field_name="available_units", lookup_expr="lte")

    class Meta:
        model = StockItem
        fields = ["sku", "product", "max_available"]
