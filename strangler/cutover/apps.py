"""Application config of strangler.cutover."""

from __future__ import annotations

from django.apps import AppConfig


class CutoverConfig(AppConfig):
    name = "strangler.cutover"
    label = "strangler_cutover"
    verbose_name = "Cutover"

    def ready(self) -> None:
        from strangler.cutover import checks  # noqa: F401 - registers the system checks
