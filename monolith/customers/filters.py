"""Query-string filters of the customers' list endpoint."""

from __future__ import annotations

import django_filters

from monolith.customers.models import Customer


class CustomerFilter(django_filters.FilterSet):
    """?email= (exact, case-insensitive), ?country= (customers with an address there)."""

    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    country = django_filters.CharFilter(
        field_name="addresses__country", lookup_expr="iexact", distinct=True
    )

    class Meta:
        model = Customer
        fields = ["email", "country"]
