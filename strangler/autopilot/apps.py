"""Application config of strangler.autopilot."""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured

# The controller drives the gateway's routes and the cutover, and keeps its runs in the control
# database next to the ownership rows.
REQUIRED_APPS = ("strangler.cutover", "strangler.ownership", "strangler.gateway", "strangler.sync")


class AutopilotConfig(AppConfig):
    name = "strangler.autopilot"
    label = "strangler_autopilot"
    verbose_name = "Autopilot"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        missing = [name for name in REQUIRED_APPS if not apps.is_installed(name)]
        if missing:
            raise ImproperlyConfigured(
                f"strangler.autopilot needs {', '.join(missing)} in INSTALLED_APPS as well: a plan "
                "moves the gateway's routes and the context's writes and reads their signals."
            )
        from strangler.autopilot import checks  # noqa: F401 - registers the system checks
