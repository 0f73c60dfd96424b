"""Fixtures of the generated service's tests: events as the monolith's relay sends them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from strangler.contracts.envelope import Envelope

HERE = Path(__file__).resolve().parent
# Valid payloads of the context's state-transfer events, made from their JSON schemas.
SAMPLES: dict[str, Any] = json.loads((HERE / "event_samples.json").read_text())
# The monolith's OpenAPI contract for the context's paths, taken when the service was generated.
MONOLITH_CONTRACT: dict[str, Any] = json.loads((HERE / "monolith_contract.json").read_text())


def make_event(event_type: str, data: dict[str, Any], version: int = 1) -> Envelope:
    """A state-transfer event as the monolith's outbox relay publishes it."""
    return Envelope(
        id=str(uuid.uuid4()),
        source="monolith",
        type=event_type,
        data=data,
        subject=str(data["id"]),
        time=datetime.now(UTC),
        dataversion=1,
        aggregateversion=version,
    )


@pytest.fixture
def event() -> Callable[..., Envelope]:
    return make_event


@pytest.fixture
def staff() -> APIClient:
    """A client of a staff user: the contract is compared past authentication and permissions."""
    client = APIClient()
    client.force_authenticate(User(username="contract", is_staff=True, is_superuser=True))
    return client
