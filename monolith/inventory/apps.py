"""Application config of the inventory context."""

from __future__ import annotations

from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "monolith.inventory"
    label = "inventory"
    verbose_name = "Inventory"
