"""Application config of strangler.cutover."""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured

# A cutover drains the old writer's outbox and the new writer's inbox and compares both sides:
# every side that takes part runs these too (the monolith consumes the service's events after it).
REQUIRED_APPS = ("strangler.outbox", "strangler.inbox", "strangler.sync", "strangler.ownership")


class CutoverConfig(AppConfig):
    name = "strangler.cutover"
    label = "strangler_cutover"
    verbose_name = "Cutover"

    def ready(self) -> None:
        missing = [name for name in REQUIRED_APPS if not apps.is_installed(name)]
        if missing:
            raise ImproperlyConfigured(
                f"strangler.cutover needs {', '.join(missing)} in INSTALLED_APPS as well: a "
                "cutover drains the outbox and the inbox of both sides and reconciles them."
            )
        from strangler.cutover import checks  # noqa: F401 - registers the system checks
