"""Running the contract check and writing the generated reference documents."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from strangler.contracts import compat
from strangler.contracts.asyncapi import render_asyncapi
from strangler.contracts.conf import contracts_settings
from strangler.contracts.project import ContractPackage, ProjectContracts, project_contracts
from strangler.contracts.reference_docs import new_events_page, render_event_table, with_event_table
from strangler.contracts.registry import SchemaRegistry

logger = logging.getLogger(__name__)

ASYNCAPI_NAME = "asyncapi.yaml"
EVENTS_NAME = "events.md"


@dataclass(frozen=True)
class ContractCheck:
    """A check's report on one contract package, and the record --release would write."""

    package: str
    report: compat.Report
    released: compat.ReleasedRecord
    released_file: Path


def package_check(package: ContractPackage) -> ContractCheck:
    """Check one contract package's schemas against its released record and its EVENTS."""
    return folder_check(
        package.registry(), package.released_file, package.event_types(), name=package.name
    )


def folder_check(
    registry: SchemaRegistry,
    released_file: Path,
    declared_types: list[str] | None = None,
    *,
    name: str = "",
) -> ContractCheck:
    """Check a one-folder registry against a released record (and declarations, when given)."""
    released = compat.ReleasedRecord.load(released_file)
    report = compat.check_contracts(registry, released, declared_types)
    return ContractCheck(name or str(registry.schema_dir), report, released, released_file)


def contracts_checks(contracts: ProjectContracts | None = None) -> list[ContractCheck]:
    """One check per contract package of the project."""
    contracts = contracts or project_contracts()
    return [package_check(package) for package in contracts.packages]


def contracts_release(check: ContractCheck) -> list[tuple[str, int]]:
    """Write the record with every current schema released; returns what was newly released."""
    record = compat.release(check.report, check.released)
    newly = sorted(
        (event_type, version)
        for event_type, version, _ in record.items()
        if check.released.get(event_type, version) is None
    )
    check.released_file.write_text(record.to_json(), encoding="utf-8")
    logger.info("released %d schema version(s) into %s", len(newly), check.released_file)
    return newly


def generated_documents(
    contracts: ProjectContracts | None = None, docs_dir: Path | None = None
) -> dict[Path, str]:
    """What asyncapi.yaml and events.md in the docs folder should contain now."""
    contracts = contracts or project_contracts()
    docs_dir = docs_dir or contracts_settings().docs_dir
    events_file = docs_dir / EVENTS_NAME
    events_text = (
        events_file.read_text(encoding="utf-8") if events_file.exists() else new_events_page()
    )
    specs = list(contracts.catalog)
    table = render_event_table(contracts.registry, specs, docs_dir)
    return {
        docs_dir / ASYNCAPI_NAME: render_asyncapi(contracts.registry, specs),
        events_file: with_event_table(events_text, table),
    }


def stale_documents(
    contracts: ProjectContracts | None = None, docs_dir: Path | None = None
) -> list[Path]:
    """Generated documents whose committed text differs from what would be generated."""
    return [
        path
        for path, text in generated_documents(contracts, docs_dir).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def write_documents(
    contracts: ProjectContracts | None = None, docs_dir: Path | None = None
) -> list[Path]:
    """Regenerate the documents; returns those whose text changed."""
    changed = []
    for path, text in generated_documents(contracts, docs_dir).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
