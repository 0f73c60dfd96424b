"""STRANGLER_SYNC's compared fields come from the contract: each event's published schema."""

from __future__ import annotations

import pytest

from strangler.sync.conf import SyncConfigurationError, parse_aggregate, schema_field_kinds

PRODUCT = {
    "sku": "text",
    "name": "text",
    "description": "text",
    "price": "money",
    "currency": "text",
    "category_id": "int",
    "active": "bool",
    "created_at": "timestamp",
    "updated_at": "timestamp",
}


def test_the_products_kinds_are_read_from_its_schema() -> None:
    # What STRANGLER_SYNC spelled out by hand on both sides before: money, timestamps, a
    # nullable id, a flag.
    assert schema_field_kinds("catalog.product.upserted") == PRODUCT


def test_a_nullable_integer_is_an_int_and_the_key_is_not_compared() -> None:
    kinds = schema_field_kinds("catalog.category.upserted")

    assert kinds == {"name": "text", "slug": "text", "parent_id": "int"}


def test_derived_properties_are_excluded_and_kinds_overridden_by_name() -> None:
    kinds = schema_field_kinds(
        "inventory.stock.upserted", exclude=["available"], kinds={"sku": "int"}
    )

    assert kinds == {
        "product_id": "int",
        "sku": "int",
        "on_hand": "int",
        "reserved": "int",
        "updated_at": "timestamp",
    }


def test_a_property_without_a_kind_must_be_excluded() -> None:
    with pytest.raises(SyncConfigurationError, match=r"addresses has no comparable kind"):
        schema_field_kinds("customers.customer.upserted")
    assert "addresses" not in schema_field_kinds(
        "customers.customer.upserted", exclude=["addresses"]
    )


def test_excluding_a_property_the_schema_lacks_names_the_ones_it_has() -> None:
    with pytest.raises(SyncConfigurationError, match=r"availble.*its schema has: available"):
        schema_field_kinds("inventory.stock.upserted", exclude=["availble"])


def test_an_aggregate_without_fields_takes_them_from_its_event() -> None:
    spec = parse_aggregate("catalog", "product", {"model": "catalog.Product"})

    assert dict(spec.fields) == PRODUCT
    written = parse_aggregate("catalog", "product", {"model": "catalog.Product", "fields": PRODUCT})
    assert spec.signature == written.signature
