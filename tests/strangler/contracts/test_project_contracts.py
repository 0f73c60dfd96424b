"""A project's own contract packages: loaded by STRANGLER_CONTRACTS, checked, documented."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from strangler.contracts import registry
from strangler.contracts.checks import check_contract_packages
from strangler.contracts.project import ContractPackageError, project_contracts
from strangler.contracts.registry import ContractViolation, UnknownEventType

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BOOK_SCHEMA = {
    "$schema": DRAFT,
    "type": "object",
    "properties": {"id": {"type": "integer"}, "title": {"type": "string", "maxLength": 200}},
    "required": ["id", "title"],
    "additionalProperties": False,
}
BOOK_EVENT = {
    "type": "library.book.upserted",
    "kind": "state-transfer",
    "producer": "library",
    "subject": "book id",
    "description": "Full snapshot of a book after any change.",
}

PackageMaker = Callable[..., str]


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PackageMaker]:
    """Write a contract package into tmp_path (importable) and return its dotted name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(
        name: str,
        events: list[dict[str, Any]],
        schemas: dict[str, dict[str, Any]],
        upcasters: str = "",
    ) -> str:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text(
            f"EVENTS = {events!r}\n" + (upcasters or "UPCASTERS = {}\n")
        )
        for event_type, schema in schemas.items():
            target = folder / "schemas" / event_type / "v1.json"
            target.parent.mkdir(parents=True)
            target.write_text(json.dumps(schema))
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)


def test_the_registry_holds_the_projects_own_events_and_nothing_of_the_shop(
    make_package: PackageMaker, tmp_path: Path
) -> None:
    package = make_package("library_contracts", [BOOK_EVENT], {BOOK_EVENT["type"]: BOOK_SCHEMA})

    with override_settings(STRANGLER_CONTRACTS={"PACKAGES": [package]}):
        assert registry.event_types() == ["library.book.upserted"]
        registry.validate("library.book.upserted", 1, {"id": 1, "title": "Dune"})
        with pytest.raises(ContractViolation, match="title"):
            registry.validate("library.book.upserted", 1, {"id": 1, "title": "x" * 201})
        with pytest.raises(UnknownEventType, match="STRANGLER_CONTRACTS"):
            registry.current_version("catalog.product.upserted")
        assert check_contract_packages() == []
    assert "catalog.product.upserted" in registry.event_types(), "the shop's again afterwards"


def test_a_declared_event_without_a_schema_is_a_contracts_error_naming_the_package(
    make_package: PackageMaker,
) -> None:
    other = {**BOOK_EVENT, "type": "library.book.deleted"}
    package = make_package("half_contracts", [BOOK_EVENT, other], {BOOK_EVENT["type"]: BOOK_SCHEMA})

    with override_settings(STRANGLER_CONTRACTS={"PACKAGES": [package]}):
        messages = check_contract_packages()

    assert [m.id for m in messages] == ["contracts.E001"]
    assert "'library.book.deleted' of contract package 'half_contracts' is in EVENTS only" in (
        messages[0].msg
    )


def test_a_missing_package_or_a_misspelt_setting_is_a_clear_check_error() -> None:
    with override_settings(STRANGLER_CONTRACTS={"PACKAGES": ["no_such_contracts"]}):
        [message] = check_contract_packages()
        assert message.id == "contracts.E004"
        assert "'no_such_contracts' cannot be imported" in message.msg
        with pytest.raises(ContractPackageError):
            project_contracts()
    with override_settings(STRANGLER_CONTRACTS={"PACKAGE": ["x"]}):
        ids = [m.id for m in check_contract_packages()]
        assert ids == ["contracts.E003", "contracts.W001"]


def test_no_package_is_a_warning_not_an_error() -> None:
    with override_settings(STRANGLER_CONTRACTS={}):
        [message] = check_contract_packages()
    assert message.id == "contracts.W001"
    assert message.level < 40  # a warning never blocks management commands


def test_a_type_declared_by_two_packages_is_refused(make_package: PackageMaker) -> None:
    one = make_package("one_contracts", [BOOK_EVENT], {BOOK_EVENT["type"]: BOOK_SCHEMA})
    two = make_package("two_contracts", [BOOK_EVENT], {BOOK_EVENT["type"]: BOOK_SCHEMA})

    with override_settings(STRANGLER_CONTRACTS={"PACKAGES": [one, two]}):
        [message] = check_contract_packages()

    assert message.id == "contracts.E004"
    assert "declared twice (one_contracts and two_contracts)" in message.msg


def test_two_packages_share_one_registry(make_package: PackageMaker) -> None:
    loan = {**BOOK_EVENT, "type": "loans.loan.upserted", "producer": "loans", "subject": "loan id"}
    books = make_package("books_contracts", [BOOK_EVENT], {BOOK_EVENT["type"]: BOOK_SCHEMA})
    loans = make_package("loans_contracts", [loan], {loan["type"]: BOOK_SCHEMA})

    with override_settings(STRANGLER_CONTRACTS={"PACKAGES": [books, loans]}):
        assert registry.event_types() == ["library.book.upserted", "loans.loan.upserted"]
        assert check_contract_packages() == []


def test_upcasters_of_the_package_bring_old_versions_to_the_current_one(
    make_package: PackageMaker, tmp_path: Path
) -> None:
    upcasters = (
        "def add_author(data):\n"
        "    data['author'] = 'unknown'\n"
        "    return data\n"
        "UPCASTERS = {('library.book.upserted', 1): add_author}\n"
    )
    package = make_package(
        "versioned_contracts", [BOOK_EVENT], {BOOK_EVENT["type"]: BOOK_SCHEMA}, upcasters
    )
    v2 = {**BOOK_SCHEMA, "properties": {**BOOK_SCHEMA["properties"], "author": {"type": "string"}}}
    v2["required"] = ["id", "title", "author"]
    (tmp_path / package / "schemas" / BOOK_EVENT["type"] / "v2.json").write_text(json.dumps(v2))

    from strangler.contracts.envelope import Envelope

    with override_settings(STRANGLER_CONTRACTS={"PACKAGES": [package]}):
        old = Envelope.new(
            type="library.book.upserted",
            source="library",
            subject="1",
            data={"id": 1, "title": "Dune"},
            dataversion=1,
        )
        assert registry.upcast(old).data == {"id": 1, "title": "Dune", "author": "unknown"}
        assert check_contract_packages() == []


def test_check_contracts_and_generate_asyncapi_work_on_the_projects_package(
    make_package: PackageMaker, tmp_path: Path
) -> None:
    package = make_package("library_contracts", [BOOK_EVENT], {BOOK_EVENT["type"]: BOOK_SCHEMA})
    docs = tmp_path / "docs"
    out = io.StringIO()

    with override_settings(STRANGLER_CONTRACTS={"PACKAGES": [package], "DOCS_DIR": docs}):
        with pytest.raises(CommandError, match="contract error"):
            call_command("check_contracts", stdout=out)  # documents not generated yet
        call_command("generate_asyncapi", stdout=out)
        call_command("check_contracts", "--release", stdout=out)
        call_command("check_contracts", "--fail-on-unreleased", stdout=out)

    assert "library.book.upserted" in (docs / "asyncapi.yaml").read_text()
    events_page = (docs / "events.md").read_text()
    assert "| `library.book.upserted` | state-transfer | library | book id | v1 |" in events_page
    assert "(../library_contracts/schemas/library.book.upserted/v1.json)" in events_page
    released = json.loads((tmp_path / package / "released.json").read_text())
    assert list(released["released"]) == ["library.book.upserted"]
    assert "contracts OK" in out.getvalue()
