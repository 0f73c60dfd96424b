"""Application config of strangler.sagas."""

from __future__ import annotations

from django.apps import AppConfig


class SagasConfig(AppConfig):
    name = "strangler.sagas"
    label = "strangler_sagas"
    verbose_name = "Sagas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.sagas import checks  # noqa: F401 - registers the system checks
