"""Admin of the customers: read-only, since writes go through services that record events."""

from __future__ import annotations

from django.contrib import admin

from monolith.common.admin import ServiceOwnedAdmin
from monolith.customers.models import Address, Customer


class AddressInline(admin.TabularInline):
    model = Address
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ServiceOwnedAdmin, admin.ModelAdmin):
    list_display = ["id", "email", "name", "created_at"]
    search_fields = ["email", "name"]
    inlines = [AddressInline]
