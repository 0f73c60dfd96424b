"""Schemas at run time: every schema is valid, validation errors are readable, upcasting works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from strangler.contracts import registry
from strangler.contracts.envelope import Envelope
from strangler.contracts.registry import (
    ContractViolation,
    InvalidSchemaFile,
    SchemaRegistry,
    UnknownEventType,
    UnknownEventVersion,
    UpcastError,
)
from strangler.contracts.upcasters import UpcasterConflict, UpcasterRegistry
from tests.contracts.conftest import object_schema

PRODUCT = "catalog.product.upserted"
VALID_PRODUCT = {
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


@pytest.mark.parametrize(
    ("event_type", "version"),
    [(t, v) for t in registry.event_types() for v in registry.published_versions(t)],
)
def test_every_published_schema_is_a_valid_draft_2020_12_schema(
    event_type: str, version: int
) -> None:
    schema = registry.schema(event_type, version)

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"


def test_a_monolith_payload_validates_against_the_current_schema() -> None:
    registry.validate(PRODUCT, registry.current_version(PRODUCT), VALID_PRODUCT)


def test_validation_error_names_every_broken_field() -> None:
    broken = {**VALID_PRODUCT, "price": 12.5, "currency": "euro"}
    del broken["sku"]

    with pytest.raises(ContractViolation) as caught:
        registry.validate(PRODUCT, 1, broken)

    message = str(caught.value)
    assert message.startswith("catalog.product.upserted v1 is invalid: ")
    assert "'sku' is a required property" in message
    assert "price: 12.5 is not of type 'string'" in message
    assert "currency: 'euro' does not match" in message


def test_unknown_type_and_version_are_distinct_errors() -> None:
    with pytest.raises(UnknownEventType, match=r"unknown event type 'catalog\.nothing\.happened'"):
        registry.validate("catalog.nothing.happened", 1, {})
    with pytest.raises(UnknownEventVersion, match="has no version 99; published: v1"):
        registry.validate(PRODUCT, 99, VALID_PRODUCT)


def test_a_schema_file_that_is_not_a_schema_is_reported_with_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "orders.order.placed"
    folder.mkdir()
    (folder / "v1.json").write_text('{"type": "objekt"}')

    with pytest.raises(InvalidSchemaFile, match=r"v1.json: not a valid JSON Schema at type"):
        SchemaRegistry(tmp_path).schema("orders.order.placed", 1)


# --- upcasting, on a throw-away event type with three versions ------------------------------

PRICE = "shop.item.priced"


def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    data["price"] = {"amount": data.pop("price"), "currency": data.pop("currency")}
    return data


def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    data["tags"] = []
    return data


@pytest.fixture
def priced(schema_writer) -> SchemaRegistry:
    money = {
        "type": "object",
        "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}},
        "required": ["amount", "currency"],
        "additionalProperties": False,
    }
    schema_writer(
        PRICE,
        1,
        object_schema(
            PRICE,
            1,
            {
                "id": {"type": "integer"},
                "price": {"type": "string"},
                "currency": {"type": "string"},
            },
            ["id", "price", "currency"],
        ),
    )
    schema_writer(PRICE, 2, object_schema(PRICE, 2, {"id": {"type": "integer"}, "price": money},
                                          ["id", "price"]))  # fmt: skip
    v3 = object_schema(
        PRICE,
        3,
        {"id": {"type": "integer"}, "price": money, "tags": {"type": "array"}},
        ["id", "price", "tags"],
    )
    root = schema_writer(PRICE, 3, v3).parent.parent
    upcasters = UpcasterRegistry.of((PRICE, 1, v1_to_v2), (PRICE, 2, v2_to_v3))
    return SchemaRegistry(root, upcasters)


def priced_event(data: dict[str, Any], version: int) -> Envelope:
    return Envelope.new(
        type=PRICE, source="monolith", data=data, subject=1, dataversion=version, aggregateversion=5
    )


def test_an_old_event_is_upcast_through_every_version_to_the_current_one(
    priced: SchemaRegistry,
) -> None:
    original = {"id": 1, "price": "12.50", "currency": "EUR"}
    event = priced_event(original, 1)

    current = priced.validate_and_upcast(event)

    assert current.dataversion == 3
    assert current.data == {"id": 1, "price": {"amount": "12.50", "currency": "EUR"}, "tags": []}
    assert (current.id, current.aggregateversion, current.time) == (
        event.id,
        event.aggregateversion,
        event.time,
    )
    assert event.data == original, "the delivered event must not be mutated"


def test_an_event_in_the_middle_version_takes_only_the_remaining_steps(
    priced: SchemaRegistry,
) -> None:
    event = priced_event({"id": 1, "price": {"amount": "1.00", "currency": "EUR"}}, 2)

    assert priced.upcast(event).data["tags"] == []


def test_a_current_event_is_validated_and_returned_unchanged(priced: SchemaRegistry) -> None:
    event = priced_event({"id": 1, "price": {"amount": "1.00", "currency": "EUR"}, "tags": []}, 3)

    assert priced.validate_and_upcast(event) is event
    with pytest.raises(ContractViolation, match=r"shop\.item\.priced v3 is invalid"):
        priced.validate_and_upcast(priced_event({"id": 1}, 3))


def test_an_old_event_is_validated_against_its_own_version_first(priced: SchemaRegistry) -> None:
    with pytest.raises(ContractViolation, match=r"shop\.item\.priced v1 is invalid: .*'currency'"):
        priced.upcast(priced_event({"id": 1, "price": "1.00"}, 1))


def test_an_upcaster_producing_an_invalid_payload_fails_loudly(schema_writer, priced) -> None:
    broken = SchemaRegistry(
        priced.schema_dir, UpcasterRegistry.of((PRICE, 1, lambda d: d), (PRICE, 2, v2_to_v3))
    )

    with pytest.raises(UpcastError, match=r"upcaster v1 -> v2 produced an invalid payload"):
        broken.upcast(priced_event({"id": 1, "price": "1.00", "currency": "EUR"}, 1))


def test_a_crashing_upcaster_names_the_event(priced: SchemaRegistry) -> None:
    def crash(data: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("amount")

    broken = SchemaRegistry(priced.schema_dir, UpcasterRegistry.of((PRICE, 1, crash)))
    event = priced_event({"id": 1, "price": "1.00", "currency": "EUR"}, 1)

    with pytest.raises(UpcastError, match=f"upcaster v1 -> v2 failed on event {event.id}"):
        broken.upcast(event)


def test_a_missing_upcaster_is_an_upcast_error(priced: SchemaRegistry) -> None:
    without = SchemaRegistry(priced.schema_dir, UpcasterRegistry.of((PRICE, 1, v1_to_v2)))

    with pytest.raises(UpcastError, match="no upcaster from v2 to v3"):
        without.upcast(priced_event({"id": 1, "price": "1.00", "currency": "EUR"}, 1))


def test_an_unknown_version_cannot_be_upcast(priced: SchemaRegistry) -> None:
    with pytest.raises(UnknownEventVersion):
        priced.upcast(priced_event({"id": 1}, 4))


def test_two_upcasters_for_one_step_are_refused() -> None:
    with pytest.raises(UpcasterConflict, match=r"two upcasters for x\.y\.z v1 -> v2"):
        UpcasterRegistry.of(("x.y.z", 1, v1_to_v2), ("x.y.z", 1, v2_to_v3))


def test_the_default_registry_upcasts_current_events_as_a_no_op() -> None:
    event = Envelope.new(
        type=PRODUCT,
        source="monolith",
        data=VALID_PRODUCT,
        subject=7,
        dataversion=registry.current_version(PRODUCT),
    )

    assert registry.validate_and_upcast(event) == event
