"""Fixtures of the monolith's tests: an API client and a view of the outbox."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from rest_framework.test import APIClient

from strangler.outbox.models import OutboxEvent
from tests.identity import token_of


@pytest.fixture
def staff_user(db: None) -> Any:
    """A staff member holding every model permission of the shop's four contexts."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username="clerk", password="clerk-password", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=("catalog", "inventory", "customers", "orders")
        )
    )
    return User.objects.get(pk=user.pk)  # fresh: the permission cache is filled on first use


@pytest.fixture
def api(staff_user: Any) -> APIClient:
    """A client of a staff member, authenticated with a bearer token as a client would be."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_of(staff_user)}")
    return client


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


class OutboxView:
    """What the writes under test recorded in the outbox."""

    def rows(self) -> list[OutboxEvent]:
        return list(OutboxEvent.objects.order_by("id"))

    def types(self) -> list[str]:
        return [row.event_type for row in self.rows()]

    def per_aggregate(self, kind: str) -> Counter[tuple[str, str]]:
        """(aggregate type, subject) -> number of rows, for events ending in `kind`."""
        return Counter(
            (row.aggregate_type, row.subject)
            for row in self.rows()
            if row.event_type.endswith(f".{kind}")
        )

    def last(self, event_type: str) -> OutboxEvent:
        return OutboxEvent.objects.filter(event_type=event_type).order_by("-id").first()

    def clear(self) -> None:
        OutboxEvent.objects.all().delete()


@pytest.fixture
def outbox() -> OutboxView:
    return OutboxView()
