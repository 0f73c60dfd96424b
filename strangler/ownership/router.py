"""Database router: ownership models live in the control database, and only there."""

from __future__ import annotations

from typing import Any

from strangler.ownership.conf import ownership_settings

APP_LABEL = "strangler_ownership"
# Apps whose models live in the control database: ownership, and the autopilot's plan runs.
APP_LABELS = frozenset({APP_LABEL, "strangler_autopilot"})


class ControlDatabaseRouter:
    """Send APP_LABELS to the control alias; migrate nothing else there."""

    def _alias(self) -> str:
        return ownership_settings().database

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return self._alias() if model._meta.app_label in APP_LABELS else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return self._alias() if model._meta.app_label in APP_LABELS else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        alias = self._alias()
        if app_label in APP_LABELS:
            return db == alias
        if db == alias and alias != "default":  # a dedicated control database holds only this
            return False
        return None
