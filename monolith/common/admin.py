"""Admin building blocks shared by the contexts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ServiceOwnedAdmin:
    """Read-only admin for models whose writes must go through services (and the outbox).

    An admin form saving rows directly would change data without recording its integration event,
    so the stores kept in sync by those events would silently drift.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
