"""The event catalog at run time: current versions, JSON Schema validation and upcasting."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from shared_contracts.envelope import Envelope

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


class ContractError(ValueError):
    """An event does not satisfy the published contract."""


class UnknownEventType(ContractError):
    """No schema is published for this event type."""


class UnknownEventVersion(ContractError):
    """The event type exists, but not in this version."""


class ContractViolation(ContractError):
    """The payload does not match the schema of its type and version."""


@cache
def published_versions(event_type: str) -> tuple[int, ...]:
    """Every version with a schema file, ascending."""
    folder = SCHEMA_DIR / event_type
    if not folder.is_dir():
        raise UnknownEventType(f"unknown event type {event_type!r}: no schema in {SCHEMA_DIR}")
    versions = sorted(int(p.stem[1:]) for p in folder.glob("v*.json") if p.stem[1:].isdigit())
    if not versions:
        raise UnknownEventType(f"event type {event_type!r} has no versioned schema files")
    return tuple(versions)


def event_types() -> list[str]:
    """Every published event type, sorted."""
    return sorted(p.name for p in SCHEMA_DIR.iterdir() if p.is_dir() and any(p.glob("v*.json")))


def current_version(event_type: str) -> int:
    """The newest version of an event type: what producers write."""
    return published_versions(event_type)[-1]


@cache
def schema(event_type: str, version: int) -> dict[str, Any]:
    if version not in published_versions(event_type):
        raise UnknownEventVersion(
            f"{event_type} has no version {version}; published: {published_versions(event_type)}"
        )
    return json.loads((SCHEMA_DIR / event_type / f"v{version}.json").read_text())


@cache
def _validator(event_type: str, version: int) -> Draft202012Validator:
    return Draft202012Validator(schema(event_type, version))


def validate(event_type: str, version: int, data: Mapping[str, Any]) -> None:
    """Raise ContractViolation, naming every problem, when data breaks the schema."""
    errors = sorted(_validator(event_type, version).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in errors[:5]
        )
        raise ContractViolation(f"{event_type} v{version} is invalid: {problems}")


def validate_envelope(envelope: Envelope) -> None:
    validate(envelope.type, envelope.dataversion, envelope.data)
