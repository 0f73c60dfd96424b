"""Admin for the routing table (edits are picked up by a gateway running with --routes db)."""

from __future__ import annotations

from django.contrib import admin

from strangler.gateway.models import Backend, Instance, Route, ShadowMismatch, ShadowStats


class InstanceInline(admin.TabularInline):
    model = Instance
    extra = 1


@admin.register(Backend)
class BackendAdmin(admin.ModelAdmin):
    list_display = ["name", "balance", "health_path"]
    inlines = [InstanceInline]


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = [
        "position",
        "prefix",
        "methods",
        "mode",
        "service",
        "percent",
        "context",
        "enabled",
    ]
    list_editable = ["mode", "percent", "enabled"]
    list_display_links = ["prefix"]
    list_filter = ["mode", "enabled"]


@admin.register(ShadowStats)
class ShadowStatsAdmin(admin.ModelAdmin):
    list_display = ["route", "requests", "matches", "mismatches", "errors", "updated_at"]
    readonly_fields = list_display


@admin.register(ShadowMismatch)
class ShadowMismatchAdmin(admin.ModelAdmin):
    list_display = ["created_at", "route", "method", "path", "monolith_status", "service_status"]
    list_filter = ["route"]
    search_fields = ["path", "diff"]
    readonly_fields = [f.name for f in ShadowMismatch._meta.fields]
