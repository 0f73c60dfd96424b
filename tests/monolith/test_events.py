"""Integration events: one outbox row per changed aggregate per write, none after a rollback."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from jsonschema import Draft202012Validator

from monolith.catalog import events as catalog_events
from monolith.catalog import services as catalog
from monolith.customers import events as customer_events
from monolith.customers import services as customers
from monolith.customers.services import AddressData
from monolith.inventory import events as inventory_events
from monolith.inventory import services as inventory
from monolith.inventory.services import InsufficientStock
from monolith.orders import events as order_events
from monolith.orders import services as orders
from monolith.orders.services import OrderLineRequest
from strangler.outbox.models import OutboxEvent
from tests.monolith.factories import (
    AddressFactory,
    CategoryFactory,
    CustomerFactory,
    ProductFactory,
    StockItemFactory,
)

pytestmark = pytest.mark.django_db

SCHEMAS = Path(__file__).resolve().parents[2] / "shared_contracts" / "schemas"
EVENT_TYPES = sorted(
    value
    for module in (catalog_events, inventory_events, customer_events, order_events)
    for name, value in vars(module).items()
    if name.isupper() and isinstance(value, str)
)


class Rollback(Exception):
    pass


def schema_of(event_type: str) -> dict:
    """The newest version of the type's schema: the one the monolith records."""
    newest = max(int(path.stem[1:]) for path in (SCHEMAS / event_type).glob("v*.json"))
    return json.loads((SCHEMAS / event_type / f"v{newest}.json").read_text())


def test_every_event_type_has_a_valid_draft_2020_12_schema():
    assert len(EVENT_TYPES) == 12
    for event_type in EVENT_TYPES:
        schema = schema_of(event_type)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(schema["properties"])


def test_product_snapshot_has_exactly_the_documented_fields(outbox):
    product = catalog.product_create(
        sku="S-1", name="Saw", price=Decimal("7.5"), currency="EUR", category=CategoryFactory()
    )
    data = outbox.last("catalog.product.upserted").data
    assert set(data) == {
        "id", "sku", "name", "description", "price", "currency", "category_id", "active",
        "created_at", "updated_at",
    }  # fmt: skip
    assert data["id"] == product.pk
    assert data["price"] == "7.50"
    assert data["created_at"].endswith("Z")


def test_snapshots_of_every_aggregate_match_their_schemas(outbox):
    customer = customers.customer_create(
        email="c@shop.test", name="C", addresses=[AddressData("1 Road", "Rome", "00100", "IT")]
    )
    stock = StockItemFactory(on_hand=5)
    inventory.stock_adjust(sku=stock.sku, delta=1, reason="found one")
    order = orders.order_place(customer=customer, lines=[OrderLineRequest(stock.product.pk, 2)])
    orders.order_cancel(order=order, reason="test")
    category = CategoryFactory()
    catalog.category_update(category=category, changes={"name": "Renamed"})
    catalog.category_delete(category=category)
    customers.customer_delete(customer=CustomerFactory())
    product = catalog.product_create(sku="P", name="P", price=Decimal("1"), currency="EUR")
    catalog.product_delete(product=product)

    recorded = outbox.rows()
    assert {row.event_type for row in recorded} == set(EVENT_TYPES)
    for row in recorded:
        errors = list(Draft202012Validator(schema_of(row.event_type)).iter_errors(row.data))
        assert errors == [], (row.event_type, row.data)
        assert schema_of(row.event_type)["$id"].endswith(f"/v{row.dataversion}.json")
    snapshot = outbox.last("orders.order.upserted").data
    assert snapshot["status"] == "cancelled"
    assert [line["quantity"] for line in snapshot["lines"]] == [2]
    customer_snapshot = outbox.rows()[0].data
    assert customer_snapshot["addresses"][0]["city"] == "Rome"


def test_each_write_records_one_state_event_per_changed_aggregate(outbox):
    customer = CustomerFactory()
    AddressFactory(customer=customer)
    hammer, saw = StockItemFactory(on_hand=10), StockItemFactory(on_hand=10)

    customers.customer_update(customer=customer, changes={"name": "New name"})
    assert outbox.per_aggregate("upserted") == {("customers.customer", str(customer.pk)): 1}
    outbox.clear()

    order = orders.order_place(
        customer=customer,
        lines=[OrderLineRequest(hammer.product.pk, 1), OrderLineRequest(saw.product.pk, 2)],
    )
    assert outbox.per_aggregate("upserted") == {
        ("orders.order", str(order.pk)): 1,
        ("inventory.stock", str(hammer.pk)): 1,
        ("inventory.stock", str(saw.pk)): 1,
    }
    assert sorted(outbox.types()) == sorted(
        ["orders.order.placed", "orders.order.upserted"]
        + ["inventory.stock.reserved", "inventory.stock.upserted"] * 2
    )
    outbox.clear()

    orders.order_cancel(order=order)
    assert outbox.per_aggregate("upserted") == {
        ("orders.order", str(order.pk)): 1,
        ("inventory.stock", str(hammer.pk)): 1,
        ("inventory.stock", str(saw.pk)): 1,
    }
    assert outbox.types().count("inventory.stock.released") == 2
    assert outbox.types().count("orders.order.cancelled") == 1
    outbox.clear()

    product = ProductFactory()
    catalog.product_update(product=product, changes={"price": Decimal("3.00")})
    catalog.product_delete(product=product)
    assert outbox.types() == ["catalog.product.upserted", "catalog.product.deleted"]


def test_aggregate_versions_increase_per_aggregate(outbox):
    product = catalog.product_create(sku="V", name="V", price=Decimal("1"), currency="EUR")
    for price in ("2", "3"):
        catalog.product_update(product=product, changes={"price": Decimal(price)})
    assert [row.aggregate_version for row in outbox.rows()] == [1, 2, 3]


def test_a_rolled_back_write_leaves_no_outbox_row(outbox):
    with pytest.raises(Rollback), transaction.atomic():
        catalog.product_create(sku="GONE", name="Gone", price=Decimal("1"), currency="EUR")
        raise Rollback
    assert outbox.rows() == []


def test_a_refused_order_leaves_no_outbox_row(outbox):
    stock = StockItemFactory(on_hand=1)
    with pytest.raises(InsufficientStock):
        orders.order_place(
            customer=CustomerFactory(), lines=[OrderLineRequest(stock.product.pk, 5)]
        )
    assert outbox.rows() == []


def test_a_refused_api_write_leaves_no_outbox_row(api, outbox):
    stock = StockItemFactory(on_hand=1)
    response = api.post(
        "/api/orders/",
        {"customer": CustomerFactory().pk, "lines": [{"product": stock.product.pk, "quantity": 9}]},
        format="json",
    )
    assert response.status_code == 409
    response = api.post("/api/catalog/products/", {"sku": "x"}, format="json")
    assert response.status_code == 400
    assert outbox.rows() == []


def test_a_price_the_api_accepts_is_one_the_event_schema_accepts(api, outbox):
    """A negative zero passes DRF's min_value=0; the event spells it "0.00" (v2 has no sign)."""
    payload = {"sku": "ZERO-1", "name": "Free", "price": "-0.00", "currency": "EUR"}
    response = api.post("/api/catalog/products/", payload, format="json")

    assert response.status_code == 201, response.content
    event = outbox.last("catalog.product.upserted")
    assert event.data["price"] == "0.00"
    assert event.dataversion == 2


def test_the_requests_correlation_id_is_recorded_on_its_events(api):
    category = CategoryFactory()
    payload = {
        "sku": "TRACE-1",
        "name": "Traced",
        "description": "",
        "price": "1.00",
        "currency": "EUR",
        "category": category.pk,
        "active": True,
    }
    response = api.post(
        "/api/catalog/products/", payload, format="json", headers={"X-Correlation-ID": "req-77"}
    )
    assert response.status_code == 201, response.content
    assert response["X-Correlation-ID"] == "req-77"
    event = OutboxEvent.objects.get(
        event_type="catalog.product.upserted", subject=response.data["id"]
    )
    assert event.correlation_id == "req-77"
    assert event.to_envelope().correlationid == "req-77"
