"""Application config of strangler.inbox."""

from __future__ import annotations

from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "strangler.inbox"
    label = "strangler_inbox"
    verbose_name = "Inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.observability.tracing import configure_tracing

        # Once per process: on only when an exporter is configured (OTEL_EXPORTER_OTLP_ENDPOINT,
        # STRANGLER_TRACE_FILE); off, it installs nothing.
        configure_tracing()
        from strangler.inbox import (
            checks,  # noqa: F401 - registers the system checks
            metrics,  # noqa: F401 - registers the metrics, so every /metrics lists them
        )
