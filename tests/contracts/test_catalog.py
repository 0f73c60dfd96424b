"""The shop's event declarations list exactly the event types that have schemas, each described."""

from __future__ import annotations

import pytest

import shared_contracts
from strangler.contracts import registry
from strangler.contracts.checks import check_contract_packages
from strangler.contracts.declarations import (
    EventCatalog,
    EventKind,
    EventSpec,
    InvalidDeclaration,
    UnknownCatalogEntry,
)
from strangler.contracts.project import project_contracts

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
SHOP_SPECS = [
    EventSpec.from_declaration(entry, "shared_contracts") for entry in shared_contracts.EVENTS
]


def test_declarations_and_schema_folders_list_the_same_event_types() -> None:
    assert project_contracts().catalog.types() == registry.event_types()


def test_every_event_type_the_contract_promises_is_declared_with_its_kind() -> None:
    catalog = project_contracts().catalog
    for event_type, kind in ISSUE_TYPES.items():
        assert catalog.spec(event_type).kind is kind


def test_all_four_contexts_publish_events() -> None:
    assert project_contracts().catalog.contexts() == ["catalog", "customers", "inventory", "orders"]


@pytest.mark.parametrize("spec", SHOP_SPECS, ids=lambda s: s.type)
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
    with pytest.raises(UnknownCatalogEntry, match=r"declared by no contract package"):
        project_contracts().catalog.spec("catalog.product.renamed")


def test_a_declaration_names_what_is_wrong_with_it() -> None:
    with pytest.raises(InvalidDeclaration, match=r"missing producer, subject"):
        EventSpec.from_declaration({"type": "a.b.c", "kind": "domain"}, "pkg")
    with pytest.raises(InvalidDeclaration, match=r"kind 'event' is not one of"):
        EventSpec.from_declaration(
            {"type": "a.b.c", "kind": "event", "producer": "a", "subject": "b id"}, "pkg"
        )


def test_a_type_declared_by_two_packages_is_refused() -> None:
    entry = {"type": "a.b.c", "kind": "domain", "producer": "a", "subject": "b id"}
    with pytest.raises(InvalidDeclaration, match=r"declared twice \(one and two\)"):
        EventCatalog(
            [EventSpec.from_declaration(entry, "one"), EventSpec.from_declaration(entry, "two")]
        )


def test_the_system_check_finds_no_problem_in_the_repository() -> None:
    assert check_contract_packages() == []
