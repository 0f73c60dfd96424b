"""The catalog service gives the monolith's answers (tests/contract_answers.py), refusals
included: a product that orders or stock reference cannot be deleted here either.

The service has no orders or stock tables: it keeps which products are referenced from the
other contexts' events (`orders.order.placed`, `inventory.stock.upserted`), applied by its inbox.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from extracted.catalog.catalog.handlers import HANDLERS
from extracted.catalog.catalog.models import Product
from strangler.contracts.envelope import Envelope
from strangler.inbox.services import apply_events
from strangler.outbox.models import OutboxEvent
from strangler.ownership.services import set_writer
from tests.contract_answers import not_found, product_in_use
from tests.extracted.catalog.conftest import catalog_event, product_data
from tests.identity import staff_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(apps=('catalog',))}")
    return client


def apply(*events: Envelope) -> None:
    with transaction.atomic():
        apply_events(events, subscriber="catalog-service", handlers=HANDLERS)


def other_context_event(event_type: str, subject: int, data: dict[str, Any]) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source="monolith",
        type=event_type,
        data=data,
        subject=str(subject),
        time=datetime.now(UTC),
        dataversion=1,
        aggregateversion=1,
    )


def order_placed(order_id: int, product_id: int) -> Envelope:
    line = {"id": 1, "product_id": product_id, "sku": "S", "quantity": 1, "unit_price": "1.00"}
    data = {
        "order_id": order_id,
        "customer_id": 1,
        "total": "1.00",
        "currency": "EUR",
        "placed_at": "2026-01-01T00:00:00Z",
        "lines": [line],
    }
    return other_context_event("orders.order.placed", order_id, data)


def stock_upserted(stock_id: int, product_id: int) -> Envelope:
    data = {
        "id": stock_id,
        "product_id": product_id,
        "sku": "S",
        "on_hand": 1,
        "reserved": 0,
        "available": 1,
        "updated_at": "2026-01-01T00:00:00Z",
    }
    return other_context_event("inventory.stock.upserted", stock_id, data)


@pytest.fixture
def products() -> None:
    apply(
        *(catalog_event("product", "upserted", pid, 1, product_data(pid, 1)) for pid in (1, 2, 3))
    )
    set_writer("catalog", "catalog-service")


def answer(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json()


@pytest.mark.parametrize("referrer", ["order line", "stock item"])
def test_deleting_a_referenced_product_is_refused_like_the_monolith(
    api: APIClient, products: None, referrer: str
) -> None:
    apply(order_placed(10, 2) if referrer == "order line" else stock_upserted(20, 2))

    response = api.delete("/api/catalog/products/2/")

    assert answer(response) == product_in_use(2)
    assert Product.objects.filter(pk=2).exists()
    # Nothing is published, so the monolith's reverse sync never meets a delete it must refuse.
    assert not OutboxEvent.objects.filter(event_type="catalog.product.deleted").exists()


def test_a_product_nothing_references_is_deleted(api: APIClient, products: None) -> None:
    apply(order_placed(10, 2), stock_upserted(20, 1))
    apply(order_placed(10, 2))  # the same reference again changes nothing

    assert api.delete("/api/catalog/products/3/").status_code == 204
    assert OutboxEvent.objects.filter(event_type="catalog.product.deleted").count() == 1


def test_a_missing_product_is_the_same_404(api: APIClient, products: None) -> None:
    assert answer(api.get("/api/catalog/products/999999/")) == not_found()
    assert answer(api.delete("/api/catalog/products/999999/")) == not_found()
