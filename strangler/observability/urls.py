"""URL patterns for the probes and metrics; include them at the root of any project."""

from django.urls import path

from strangler.observability import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]
