"""Admin of the orders: read-only, since writes go through services that record events."""

from __future__ import annotations

from django.contrib import admin

from monolith.common.admin import ServiceOwnedAdmin
from monolith.orders.models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    raw_id_fields = ["product"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ServiceOwnedAdmin, admin.ModelAdmin):
    list_display = ["id", "customer", "status", "total", "currency", "created_at"]
    list_filter = ["status", "currency"]
    list_select_related = ["customer"]
    inlines = [OrderLineInline]
