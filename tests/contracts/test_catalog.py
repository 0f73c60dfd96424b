"""The event catalog lists exactly the event types that have schemas, each described."""

from __future__ import annotations

import pytest

from shared_contracts import catalog, registry
from shared_contracts.catalog import EventKind, EventSpec, UnknownCatalogEntry
from strangler.contracts.checks import check_event_catalog

ISSUE_TYPES = {
    "catalog.product.upserted": EventKind.STATE_TRANSFER,
    "catalog.product.deleted": EventKind.STATE_TRANSFER,
    "catalog.category.upserted": EventKind.STATE_TRANSFER,
    "inventory.stock.upserted": EventKind.STATE_TRANSFER,
    "customers.customer.upserted": EventKind.STATE_TRANSFER,
    "orders.order.upserted": EventKind.STATE_TRANSFER,
    "orders.order.placed": EventKind.DOMAIN,
    "orders.order.cancelled": EventKind.DOMAIN,
    "inventory.stock.reserved": EventKind.DOMAIN,
    "inventory.stock.released": EventKind.DOMAIN,
}


def test_catalog_and_schema_folders_list_the_same_event_types() -> None:
    assert catalog.catalog_types() == registry.event_types()


def test_every_event_type_the_contract_promises_is_in_the_catalog_with_its_kind() -> None:
    for event_type, kind in ISSUE_TYPES.items():
        assert catalog.event_spec(event_type).kind is kind


def test_all_four_contexts_publish_events() -> None:
    assert catalog.contexts() == ["catalog", "customers", "inventory", "orders"]


@pytest.mark.parametrize("spec", catalog.CATALOG, ids=lambda s: s.type)
def test_each_entry_is_owned_by_its_context_and_described(spec: EventSpec) -> None:
    assert spec.producer == spec.context
    assert spec.description.endswith(".") and len(spec.description) > 20
    assert spec.subject.endswith(" id")
    assert spec.aggregate_type == f"{spec.context}.{spec.aggregate}"
    expected = (
        EventKind.STATE_TRANSFER if spec.verb in ("upserted", "deleted") else EventKind.DOMAIN
    )
    assert spec.kind is expected


def test_a_malformed_type_or_unknown_entry_is_refused() -> None:
    with pytest.raises(ValueError, match=r"is not <context>\.<aggregate>\.<verb>"):
        EventSpec("ProductUpserted", EventKind.DOMAIN, "catalog", "x.", "product id")
    with pytest.raises(UnknownCatalogEntry, match=r"not in shared_contracts/catalog\.py"):
        catalog.event_spec("catalog.product.renamed")


def test_the_system_check_finds_no_problem_in_the_repository() -> None:
    assert check_event_catalog() == []
