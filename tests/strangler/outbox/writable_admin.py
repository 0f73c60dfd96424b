"""A URLconf with a writable admin of the catalog, as a monolith has on day one (tests only).

The shop's own admin is read-only for exactly the reason the bypass guard exists; a team's
monolith usually is not, so the guard is tested against an admin that deletes rows directly.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from monolith.catalog.models import Product

site = admin.AdminSite(name="writable_admin")
site.register(Product)

urlpatterns = [path("writable-admin/", site.urls)]
