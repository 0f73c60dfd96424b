"""Application config of strangler.sync."""

from __future__ import annotations

from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "strangler.sync"
    label = "strangler_sync"
    verbose_name = "Sync operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.sync import checks  # noqa: F401 - registers the system checks
