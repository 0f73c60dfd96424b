"""Running the contract check and writing the generated reference documents."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from shared_contracts import catalog, compat
from shared_contracts.asyncapi import render_asyncapi
from shared_contracts.reference_docs import render_event_table, with_event_table
from shared_contracts.registry import SchemaRegistry, default_registry
from strangler.environment import REPO_ROOT

logger = logging.getLogger(__name__)

DOCS_DIR = REPO_ROOT / "docs" / "reference"
ASYNCAPI_FILE = DOCS_DIR / "asyncapi.yaml"
EVENTS_FILE = DOCS_DIR / "events.md"


@dataclass(frozen=True)
class ContractCheck:
    """A check's report, and the record --release would write."""

    report: compat.Report
    released: compat.ReleasedRecord
    released_file: Path


def contracts_check(
    *, registry: SchemaRegistry | None = None, released_file: Path | None = None
) -> ContractCheck:
    """Check the schemas of `registry` (default: the published language) against its record."""
    registry = registry or default_registry()
    released_file = released_file or compat.RELEASED_FILE
    released = compat.ReleasedRecord.load(released_file)
    report = compat.check_contracts(registry, released, catalog.catalog_types())
    return ContractCheck(report, released, released_file)


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


def generated_documents(registry: SchemaRegistry | None = None) -> dict[Path, str]:
    """What docs/reference/asyncapi.yaml and events.md should contain now."""
    registry = registry or default_registry()
    events_text = EVENTS_FILE.read_text(encoding="utf-8")
    return {
        ASYNCAPI_FILE: render_asyncapi(registry),
        EVENTS_FILE: with_event_table(events_text, render_event_table(registry)),
    }


def stale_documents(registry: SchemaRegistry | None = None) -> list[Path]:
    """Generated documents whose committed text differs from what would be generated."""
    return [
        path
        for path, text in generated_documents(registry).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def write_documents(registry: SchemaRegistry | None = None) -> list[Path]:
    """Regenerate the documents; returns those whose text changed."""
    changed = []
    for path, text in generated_documents(registry).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
