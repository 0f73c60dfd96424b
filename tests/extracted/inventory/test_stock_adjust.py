"""Stock adjustments on the inventory service: refused until the cutover, then applied and
recorded as the same `inventory.stock.upserted` snapshot the monolith publishes."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from extracted.inventory.inventory.models import StockAdjustment, StockItem
from strangler.contracts import registry
from strangler.outbox.models import OutboxEvent
from strangler.ownership.services import set_writer

pytestmark = pytest.mark.django_db(databases=["default", "control"])


@pytest.fixture
def stock() -> StockItem:
    """A stock item as the monolith's backfill leaves it."""
    return StockItem.objects.create(
        pk=7,
        product_id=3,
        sku="HAM-1",
        on_hand=10,
        reserved=4,
        updated_at="2026-01-01T00:00:00Z",
    )


def adjust(staff: APIClient, **body: Any) -> Any:
    return staff.post("/api/inventory/stock/adjust/", body, format="json")


def test_adjusting_is_refused_while_the_monolith_writes_inventory(
    staff: APIClient, stock: StockItem
) -> None:
    response = adjust(staff, sku="HAM-1", delta=5, reason="delivery")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "writes_owned_elsewhere"
    assert StockItem.objects.get(pk=7).on_hand == 10
    assert not OutboxEvent.objects.exists()


def test_after_cutover_an_adjustment_is_applied_and_published(
    staff: APIClient, stock: StockItem
) -> None:
    set_writer("inventory", "service")

    response = adjust(staff, sku="HAM-1", delta=5, reason="delivery")

    assert response.status_code == 200, response.content
    assert response.json()["on_hand"] == 15
    assert response.json()["available"] == 11
    (adjustment,) = StockAdjustment.objects.all()
    assert (adjustment.delta, adjustment.on_hand_after) == (5, 15)
    (event,) = OutboxEvent.objects.all()
    assert (event.event_type, event.subject, event.source) == (
        "inventory.stock.upserted",
        "7",
        "inventory-service",
    )
    registry.validate("inventory.stock.upserted", 1, event.data)
    assert event.data["on_hand"] == 15


@pytest.mark.parametrize(
    ("delta", "code"),
    [
        (-11, "stock_adjustment_rejected"),
        (-7, "stock_adjustment_rejected"),
        (0, "invalid"),
        (2**31 - 1, "stock_adjustment_rejected"),  # 10 on hand + this: past the largest count
        (2**31, "invalid"),
    ],
)
def test_adjustments_that_break_the_stock_rules_are_refused(
    staff: APIClient, stock: StockItem, delta: int, code: str
) -> None:
    set_writer("inventory", "service")

    response = adjust(staff, sku="HAM-1", delta=delta, reason="count")

    assert response.status_code in (400, 409), response.content
    assert response.json()["error"]["code"] == code
    assert StockItem.objects.get(pk=7).on_hand == 10
    assert not OutboxEvent.objects.exists()


def test_an_unknown_sku_is_refused_on_the_service(staff: APIClient) -> None:
    set_writer("inventory", "service")

    response = adjust(staff, sku="NOPE", delta=1, reason="count")

    assert response.status_code == 400
    assert "sku" in response.json()["error"]["fields"]
