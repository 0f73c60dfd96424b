"""The service's inbox handlers apply the monolith's state-transfer events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.db import transaction

from extracted.inventory.inventory.handlers import HANDLERS
from strangler.contracts.registry import validate
from strangler.inbox.services import Outcome, apply_events

from .conftest import SAMPLES, make_event

pytestmark = pytest.mark.django_db

SUBSCRIBER = "inventory-service"
UPSERTED = sorted(t for t in SAMPLES if t.endswith(".upserted"))
DELETED = sorted(t for t in SAMPLES if t.endswith(".deleted"))


def apply(*envelopes: Any) -> list[Outcome]:
    with transaction.atomic():
        results = apply_events(envelopes, subscriber=SUBSCRIBER, handlers=HANDLERS)
    return [r.outcome for r in results]


def as_payload(value: Any) -> Any:
    """A model value the way event payloads spell it (money as text, UTC timestamps with Z)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return str(value)
    return value


def assert_row_matches(model_label: str, data: dict[str, Any], mapping: dict[str, Any]) -> None:
    model = apps.get_model(model_label)
    row = model.objects.get(pk=data["id"])
    for prop, attribute in mapping["fields"].items():
        assert as_payload(getattr(row, attribute)) == data[prop], prop
    for prop, child in mapping["children"].items():
        child_model = apps.get_model(child["model"])
        rows = child_model.objects.filter(**{child["parent_field"]: row.pk}).order_by("pk")
        assert [r.pk for r in rows] == [item["id"] for item in data[prop]]
        for item in data[prop]:
            assert_row_matches(child["model"], item, child)


def test_every_state_transfer_event_type_has_a_handler() -> None:
    # The rest of the registry answers the orders' stock sagas (test_order_saga.py).
    assert set(SAMPLES) <= set(HANDLERS)


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_samples_are_valid_against_the_published_schema(event_type: str) -> None:
    validate(event_type, 1, SAMPLES[event_type]["data"])


@pytest.mark.parametrize("event_type", UPSERTED)
def test_upserted_event_creates_the_row_under_the_monolith_id(event_type: str) -> None:
    sample = SAMPLES[event_type]

    assert apply(make_event(event_type, sample["data"])) == [Outcome.APPLIED]

    assert_row_matches(sample["model"], sample["data"], sample)


@pytest.mark.parametrize("event_type", UPSERTED)
def test_replayed_event_changes_nothing(event_type: str) -> None:
    event = make_event(event_type, SAMPLES[event_type]["data"])

    assert apply(event) == [Outcome.APPLIED]
    assert apply(event) == [Outcome.DUPLICATE]
