"""Application config of strangler.ownership."""

from __future__ import annotations

from django.apps import AppConfig


class OwnershipConfig(AppConfig):
    name = "strangler.ownership"
    label = "strangler_ownership"
    verbose_name = "Context ownership"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.ownership import checks  # noqa: F401 - registers the system checks
