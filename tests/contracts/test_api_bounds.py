"""Event schemas say what the API enforces: v2 bounds, v1 through the upcaster, OpenAPI agreeing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from strangler.contracts import registry
from strangler.contracts.envelope import Envelope
from strangler.contracts.registry import ContractError, ContractViolation
from strangler.seams.contract import current_openapi_schema

PRODUCT = "catalog.product.upserted"
CATEGORY = "catalog.category.upserted"
ORDER_PLACED = "orders.order.placed"
ORDER_UPSERTED = "orders.order.upserted"
TIGHTENED = (CATEGORY, PRODUCT, ORDER_PLACED, ORDER_UPSERTED)
BIGINT_MAX = 2**63 - 1


def product(**changes: Any) -> dict[str, Any]:
    data = {
        "id": 7,
        "sku": "KET-1",
        "name": "Kettle",
        "description": "",
        "price": "12.50",
        "currency": "EUR",
        "category_id": None,
        "active": True,
        "created_at": "2024-05-17T09:30:12.123456Z",
        "updated_at": "2024-05-17T09:30:12Z",
    }
    return {**data, **changes}


def order_placed(**line_changes: Any) -> dict[str, Any]:
    line = {"id": 1, "product_id": 7, "sku": "KET-1", "quantity": 2, "unit_price": "12.50"}
    return {
        "order_id": 3,
        "customer_id": 4,
        "total": "25.00",
        "currency": "EUR",
        "placed_at": "2024-05-17T09:30:12Z",
        "lines": [{**line, **line_changes}],
    }


def event(event_type: str, data: dict[str, Any], dataversion: int) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source="monolith",
        type=event_type,
        data=data,
        subject=str(data.get("id", data.get("order_id"))),
        time=datetime.now(UTC),
        dataversion=dataversion,
        aggregateversion=1,
    )


def accepts(event_type: str, version: int, data: dict[str, Any]) -> bool:
    try:
        registry.validate(event_type, version, data)
    except ContractViolation:
        return False
    return True


@pytest.mark.parametrize("event_type", TIGHTENED)
def test_producers_write_v2_and_v1_reads_through_an_upcaster(event_type: str) -> None:
    assert registry.current_version(event_type) == 2
    assert registry.published_versions(event_type) == (1, 2)
    assert registry.default_registry().upcasters.get(event_type, 1) is not None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": "-5.00"}, "price"),
        ({"price": "-0.01"}, "price"),
        ({"price": "10000000000.00"}, "price"),  # 13 digits: over max_digits=12
        ({"name": "x" * 201}, "name"),
        ({"name": "   "}, "name"),
        ({"sku": "x" * 65}, "sku"),
        ({"description": "nul\x00inside"}, "description"),
        ({"category_id": BIGINT_MAX + 1}, "category_id"),
        ({"id": BIGINT_MAX + 1}, "id"),
    ],
)
def test_v2_refuses_what_the_catalog_api_refuses(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractViolation, match=rf"v2 is invalid: {field}: "):
        registry.validate(PRODUCT, 2, product(**changes))


def test_v2_accepts_the_api_limits() -> None:
    assert accepts(PRODUCT, 2, product(price="0.00", name="x" * 200, sku="y" * 64))
    assert accepts(PRODUCT, 2, product(price="9999999999.99", id=BIGINT_MAX))
    assert accepts(PRODUCT, 2, product(description=" " * 10_000, name=" padded "))


@pytest.mark.parametrize(
    ("line_changes", "field"),
    [
        ({"unit_price": "-1.00"}, "lines/0/unit_price"),
        ({"quantity": 2**31}, "lines/0/quantity"),
        ({"sku": " "}, "lines/0/sku"),
    ],
)
def test_order_events_refuse_negative_prices_and_out_of_column_values(
    line_changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ContractViolation, match=rf"v2 is invalid: {field}: "):
        registry.validate(ORDER_PLACED, 2, order_placed(**line_changes))
    assert not accepts(ORDER_PLACED, 2, {**order_placed(), "total": "-25.00"})
    assert accepts(ORDER_PLACED, 1, {**order_placed(), "total": "-25.00"})  # what v1 let in


def test_a_valid_v1_event_is_read_as_v2_unchanged() -> None:
    upcast = registry.validate_and_upcast(event(PRODUCT, product(), 1))

    assert upcast.dataversion == 2
    assert upcast.data == product()


@pytest.mark.parametrize(
    "changes", [{"price": "-5.00"}, {"name": "\t"}, {"description": "\x00"}], ids=str
)
def test_a_v1_event_the_api_could_not_have_produced_is_refused(changes: dict[str, Any]) -> None:
    data = product(**changes)
    assert accepts(PRODUCT, 1, data)

    with pytest.raises(ContractError, match=rf"{PRODUCT} v2 is invalid: {next(iter(changes))}"):
        registry.validate_and_upcast(event(PRODUCT, data, 1))


# --- the monolith's OpenAPI request schemas say the same --------------------------------------

# (event type, payload field) -> (OpenAPI request component, property)
SAME_FIELD = {
    (PRODUCT, "sku"): ("ProductInputRequest", "sku"),
    (PRODUCT, "name"): ("ProductInputRequest", "name"),
    (PRODUCT, "price"): ("ProductInputRequest", "price"),
    (CATEGORY, "name"): ("CategoryInputRequest", "name"),
    (CATEGORY, "slug"): ("CategoryInputRequest", "slug"),
}
# Values as an event spells them (money always with two decimals).
PROBES = {
    "price": ["0.00", "12.50", "9999999999.99", "10000000000.00", "-5.00", "-0.00"],
    "text": ["a", " a ", "", " ", "\t\n", "nul\x00", "x" * 64, "x" * 65, "x" * 120, "x" * 121,
             "x" * 200, "x" * 201, "ok-slug_1", "not a slug"],
}  # fmt: skip


@pytest.fixture(scope="module")
def openapi_components() -> dict[str, Any]:
    return current_openapi_schema()["components"]["schemas"]


@pytest.mark.parametrize(("event_field", "api_field"), SAME_FIELD.items(), ids=str)
def test_the_openapi_request_schema_admits_exactly_what_the_event_schema_admits(
    openapi_components: dict[str, Any],
    event_field: tuple[str, str],
    api_field: tuple[str, str],
) -> None:
    event_type, field = event_field
    component, name = api_field
    in_event = Draft202012Validator(registry.schema(event_type, 2)["properties"][field])
    in_api = Draft202012Validator(openapi_components[component]["properties"][name])

    for value in PROBES["price" if field == "price" else "text"]:
        assert in_event.is_valid(value) == in_api.is_valid(value), (field, value)
