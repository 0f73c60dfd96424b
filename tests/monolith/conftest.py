"""Fixtures of the monolith's tests: an API client and a view of the outbox."""

from __future__ import annotations

from collections import Counter

import pytest
from rest_framework.test import APIClient

from strangler.outbox.models import OutboxEvent


@pytest.fixture
def api() -> APIClient:
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
