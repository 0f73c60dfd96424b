"""Admin of the catalog: read-only, since writes go through services that record events."""

from __future__ import annotations

from django.contrib import admin

from monolith.catalog.models import Category, Product
from monolith.common.admin import ServiceOwnedAdmin


@admin.register(Category)
class CategoryAdmin(ServiceOwnedAdmin, admin.ModelAdmin):
    list_display = ["id", "name", "slug", "parent"]
    search_fields = ["name", "slug"]
    list_select_related = ["parent"]


@admin.register(Product)
class ProductAdmin(ServiceOwnedAdmin, admin.ModelAdmin):
    list_display = ["id", "sku", "name", "price", "currency", "category", "active"]
    list_filter = ["active", "currency"]
    search_fields = ["sku", "name", "description"]
    list_select_related = ["category"]
