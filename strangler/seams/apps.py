"""Application config of strangler.seams."""

from __future__ import annotations

from django.apps import AppConfig


class SeamsConfig(AppConfig):
    name = "strangler.seams"
    label = "strangler_seams"
    verbose_name = "Seams"

    def ready(self) -> None:
        from strangler.seams import checks  # noqa: F401 - registers the system checks
