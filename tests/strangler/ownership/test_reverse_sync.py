"""Reverse sync: the service's catalog events applied to the monolith's legacy tables, no echo."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from monolith.catalog.handlers import HANDLERS
from monolith.catalog.models import Category, Product
from monolith.customers.models import Customer
from monolith.inventory.services import stock_adjust
from monolith.orders.models import Order
from monolith.orders.services import OrderLineRequest, order_place
from strangler.contracts.envelope import Envelope
from strangler.inbox.models import InboxRecord, ProjectionVersion
from strangler.inbox.services import Outcome, apply_events
from strangler.outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db(databases=["default", "control"])


def event(
    verb: str,
    aggregate: str,
    key: int,
    version: int,
    data: dict[str, Any],
    *,
    source: str = "catalog-service",
) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source=source,
        type=f"catalog.{aggregate}.{verb}",
        data=data,
        subject=str(key),
        time=datetime.now(UTC),
        dataversion=1,
        aggregateversion=version,
        correlationid="corr-1",
    )


def product(key: int, **changes: Any) -> dict[str, Any]:
    return {
        "id": key,
        "sku": f"S-{key}",
        "name": f"Product {key}",
        "description": "from the service",
        "price": "12.30",
        "currency": "EUR",
        "category_id": None,
        "active": True,
        "created_at": "2026-01-02T03:04:05.123456Z",
        "updated_at": "2026-02-03T04:05:06.654321Z",
        **changes,
    }


def apply(*envelopes: Envelope) -> list[Outcome]:
    with transaction.atomic():
        results = apply_events(list(envelopes), subscriber="monolith", handlers=HANDLERS)
    return [r.outcome for r in results]


def test_service_events_land_in_the_legacy_tables_with_the_services_timestamps() -> None:
    apply(
        event(
            "upserted",
            "category",
            5,
            3,
            {"id": 5, "name": "Saws", "slug": "saws", "parent_id": None},
        ),
        event("upserted", "product", 9, 4, product(9, category_id=5)),
    )
    row = Product.objects.get(pk=9)
    assert (row.sku, row.price, row.category_id) == ("S-9", Decimal("12.30"), 5)
    assert row.created_at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert row.updated_at == datetime(2026, 2, 3, 4, 5, 6, 654321, tzinfo=UTC)
    assert Category.objects.get(pk=5).slug == "saws"

    apply(event("upserted", "product", 9, 5, product(9, price="15.00", category_id=5)))
    assert Product.objects.get(pk=9).price == Decimal("15.00")
    assert Product.objects.get(pk=9).updated_at.year == 2026
    apply(event("deleted", "product", 9, 6, {"id": 9}))
    assert not Product.objects.filter(pk=9).exists()
    assert ProjectionVersion.objects.get(projection="catalog.product", aggregate_id="9").deleted


def test_writes_made_by_the_handlers_are_never_recorded_as_new_events() -> None:
    apply(*[event("upserted", "product", key, 1, product(key)) for key in range(1, 6)])
    assert Product.objects.count() == 5
    assert OutboxEvent.objects.count() == 0


def test_the_monolith_skips_the_events_it_published_itself() -> None:
    outcomes = apply(event("upserted", "product", 3, 7, product(3), source="monolith"))
    assert outcomes == [Outcome.APPLIED]  # recorded (versions stay exact) but not applied
    assert not Product.objects.filter(pk=3).exists()
    assert ProjectionVersion.objects.get(aggregate_id="3").version == 7
    assert InboxRecord.objects.get(aggregate="3").source == "monolith"


def test_order_placement_reads_prices_the_service_set() -> None:
    apply(event("upserted", "product", 21, 2, product(21, price="7.25")))
    stock_adjust(sku="S-21", delta=5, reason="delivery")
    customer = Customer.objects.create(email="c@example.com", name="C")
    order = order_place(customer=customer, lines=[OrderLineRequest(product_id=21, quantity=2)])
    assert Order.objects.get(pk=order.pk).total == Decimal("14.50")
