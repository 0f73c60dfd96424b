"""Application config of the customers context."""

from __future__ import annotations

from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "monolith.customers"
    label = "customers"
    verbose_name = "Customers"
