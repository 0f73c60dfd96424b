"""Application config of strangler.inbox."""

from __future__ import annotations

from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "strangler.inbox"
    label = "strangler_inbox"
    verbose_name = "Inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.inbox import (
            checks,  # noqa: F401 - registers the system checks
            metrics,  # noqa: F401 - registers the metrics, so every /metrics lists them
        )
