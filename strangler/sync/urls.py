"""Routes of the internal sync endpoints; include under /internal/sync/."""

from __future__ import annotations

from django.urls import path

from strangler.sync import views

app_name = "strangler_sync"

urlpatterns = [
    path("<str:context>/<str:aggregate>/describe/", views.describe_view, name="describe"),
    path("<str:context>/<str:aggregate>/checksums/", views.checksums_view, name="checksums"),
    path("<str:context>/<str:aggregate>/rows/", views.rows_view, name="rows"),
    path("<str:context>/<str:aggregate>/copy/", views.copy_view, name="copy"),
    path("<str:context>/<str:aggregate>/load/", views.load_view, name="load"),
]
