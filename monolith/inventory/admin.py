"""Admin of the inventory: read-only, since writes go through services that record events."""

from __future__ import annotations

from django.contrib import admin

from monolith.common.admin import ServiceOwnedAdmin
from monolith.inventory.models import Reservation, StockAdjustment, StockItem


@admin.register(StockItem)
class StockItemAdmin(ServiceOwnedAdmin, admin.ModelAdmin):
    list_display = ["id", "sku", "on_hand", "reserved", "updated_at"]
    search_fields = ["sku"]


@admin.register(StockAdjustment)
class StockAdjustmentAdmin(ServiceOwnedAdmin, admin.ModelAdmin):
    list_display = ["id", "stock_item", "delta", "reason", "on_hand_after", "created_at"]
    list_select_related = ["stock_item"]


@admin.register(Reservation)
class ReservationAdmin(ServiceOwnedAdmin, admin.ModelAdmin):
    list_display = ["id", "order", "sku", "quantity", "released", "fulfilled", "created_at"]
    list_filter = ["released", "fulfilled"]
    search_fields = ["sku"]
