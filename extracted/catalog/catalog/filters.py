"""Query-string filters of the catalog's list endpoints (the monolith's, exactly)."""

from __future__ import annotations

from typing import Any

import django_filters

from extracted.catalog.catalog.models import Category, Product

_TRUE = ("true", "1")
_BOOLEAN_CHOICES = [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")]


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """A true/false filter that rejects anything else with a 400 instead of ignoring it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", _BOOLEAN_CHOICES)
        kwargs.setdefault("coerce", lambda value: value.lower() in _TRUE)
        super().__init__(*args, **kwargs)


class ProductFilter(django_filters.FilterSet):
    """?category=&active=&currency=&min_price=&max_price="""

    category = django_filters.ModelChoiceFilter(queryset=Category.objects.all())
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")
    active = StrictBooleanFilter(field_name="active")
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")

    class Meta:
        model = Product
        fields = ["category", "active", "currency", "min_price", "max_price"]


class CategoryFilter(django_filters.FilterSet):
    """?parent= (an id) and ?root=true for top-level categories."""

    parent = django_filters.ModelChoiceFilter(queryset=Category.objects.all())
    root = StrictBooleanFilter(field_name="parent", lookup_expr="isnull")

    class Meta:
        model = Category
        fields = ["parent", "root"]
