"""Query-string filters of the catalog's list endpoints (the monolith's, exactly)."""

from __future__ import annotations

import django_filters

from extracted.catalog.catalog.models import Category, Product
from strangler.api import DecimalFilter, IdFilter, StrictBooleanFilter


class ProductFilter(django_filters.FilterSet):
    """?category=&active=&currency=&min_price=&max_price="""

    category = IdFilter()
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")
    active = StrictBooleanFilter(field_name="active")
    min_price = DecimalFilter(field_name="price", lookup_expr="gte")
    max_price = DecimalFilter(field_name="price", lookup_expr="lte")

    class Meta:
        model = Product
        fields = ["category", "active", "currency", "min_price", "max_price"]


class CategoryFilter(django_filters.FilterSet):
    """?parent= (an id) and ?root=true for top-level categories."""

    parent = IdFilter()
    root = StrictBooleanFilter(field_name="parent", lookup_expr="isnull")

    class Meta:
        model = Category
        fields = ["parent", "root"]
