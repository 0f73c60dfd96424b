"""URL patterns for the probes and metrics; include them at the root of any project."""

from django.urls import path

from strangler.observability import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]

# The migration dashboard: include these where the project wants it (the shop: /strangler/).
dashboard_urlpatterns = [
    path("dashboard/", views.dashboard, name="strangler-dashboard"),
    path("dashboard.json", views.dashboard_json, name="strangler-dashboard-json"),
]
