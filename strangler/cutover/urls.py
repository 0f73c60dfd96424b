"""Routes of the internal cutover endpoints; include under /internal/cutover/."""

from __future__ import annotations

from django.urls import path

from strangler.cutover import views

app_name = "strangler_cutover"

urlpatterns = [
    path("<str:context>/state/", views.state_view, name="state"),
    path("<str:context>/issued/", views.issued_view, name="issued"),
    path("<str:context>/applied/", views.applied_view, name="applied"),
    path("<str:context>/fence/", views.fence_view, name="fence"),
    path("<str:context>/prepare/", views.prepare_view, name="prepare"),
]
