"""Schema registry: current versions, JSON Schema validation and upcasting of a project's events."""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from strangler.contracts.envelope import Envelope
from strangler.contracts.upcasters import UpcasterRegistry

logger = logging.getLogger(__name__)

MAX_REPORTED_PROBLEMS = 5

# Keywords whose meaning is the same in draft 7 (what fastjsonschema compiles) and draft 2020-12
# (what the contracts are written in). A schema using only these gets a compiled fast check.
# `format` is asserted by fastjsonschema and only annotated by jsonschema: stricter, so safe
# (a payload the fast check refuses is always judged again by jsonschema).
FAST_CHECK_KEYWORDS = frozenset(
    {
        "$schema", "$id", "title", "description", "type", "properties", "required",
        "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
        "format", "examples", "default",
    }
)  # fmt: skip


class ContractError(ValueError):
    """An event does not satisfy the published contract."""


class UnknownEventType(ContractError):
    """No schema is published for this event type."""


class UnknownEventVersion(ContractError):
    """The event type exists, but not in this version."""


class ContractViolation(ContractError):
    """The payload does not match the schema of its type and version."""


class InvalidSchemaFile(ContractError):
    """A schema file is not valid JSON or not a valid JSON Schema (draft 2020-12)."""


class UpcastError(ContractError):
    """An event cannot be brought to the current version (missing or faulty upcaster)."""


def schema_file(schema_dir: Path, event_type: str, version: int) -> Path:
    """Where version `version` of `event_type` lives: <schema_dir>/<type>/v<N>.json."""
    return schema_dir / event_type / f"v{version}.json"


def load_schema_file(path: Path) -> dict[str, Any]:
    """Parse one schema file and check it is a valid draft 2020-12 schema."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidSchemaFile(f"{path}: not readable JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidSchemaFile(f"{path}: a schema must be a JSON object")
    try:
        Draft202012Validator.check_schema(document)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidSchemaFile(
            f"{path}: not a valid JSON Schema at {where}: {exc.message}"
        ) from exc
    return document


def describe_errors(errors: list[Any]) -> str:
    """`path: message` for the first few validation errors, sorted by path."""
    errors = sorted(errors, key=lambda e: [str(p) for p in e.path])
    text = "; ".join(
        f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}"
        for e in errors[:MAX_REPORTED_PROBLEMS]
    )
    if len(errors) > MAX_REPORTED_PROBLEMS:
        text += f"; and {len(errors) - MAX_REPORTED_PROBLEMS} more"
    return text


def _keywords(schema: Any) -> set[str]:
    """Every keyword used anywhere in a schema (names under `properties` are not keywords)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key == "properties" and isinstance(value, dict):
                for subschema in value.values():
                    found |= _keywords(subschema)
            elif key in ("items", "additionalProperties"):
                found |= _keywords(value)
    return found


class _Validator:
    """A schema's validator: a compiled fast check, and jsonschema as the judge of failures.

    Every event a consumer receives is validated, so validation is on the hot path: the compiled
    check (fastjsonschema) costs about 10 µs a payload where jsonschema costs about 150 µs. It is
    used only for schemas written entirely in FAST_CHECK_KEYWORDS, and only to accept: whatever it
    refuses is judged by Draft202012Validator, which also names the problems.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.judge = Draft202012Validator(schema)
        self.fast: Any = None
        if _keywords(schema) <= FAST_CHECK_KEYWORDS:
            self.fast = fastjsonschema.compile(schema, detailed_exceptions=False)

    def errors(self, data: Mapping[str, Any]) -> list[Any]:
        if self.fast is not None:
            try:
                self.fast(data)
                return []
            except fastjsonschema.JsonSchemaException:
                pass  # the judge decides (and explains)
        return list(self.judge.iter_errors(data))


class SchemaRegistry:
    """Versioned JSON Schemas of event types in one or more folders, plus their upcasters.

    Each folder holds `<type>/v<N>.json` files (a contract package's `schemas/`); an event type
    lives in exactly one of them. Files are read lazily and cached: a registry never sees a
    schema file change after it read it, which is what a running process wants (the code it
    runs was released with them).
    """

    def __init__(
        self, schema_dirs: Path | Iterable[Path], upcasters: UpcasterRegistry | None = None
    ) -> None:
        if isinstance(schema_dirs, str | Path):
            schema_dirs = [schema_dirs]
        self.schema_dirs = tuple(Path(folder) for folder in schema_dirs)
        self.upcasters = upcasters if upcasters is not None else UpcasterRegistry()
        self._lock = threading.Lock()
        self._folders: dict[str, Path] | None = None
        self._versions: dict[str, tuple[int, ...]] = {}
        self._schemas: dict[tuple[str, int], dict[str, Any]] = {}
        self._validators: dict[tuple[str, int], _Validator] = {}

    def __repr__(self) -> str:
        return f"SchemaRegistry({', '.join(repr(str(d)) for d in self.schema_dirs)})"

    @property
    def schema_dir(self) -> Path:
        """The folder of a one-folder registry (what a contract package's checks work on)."""
        if len(self.schema_dirs) != 1:
            raise ValueError(f"{self!r} has {len(self.schema_dirs)} schema folders, not one")
        return self.schema_dirs[0]

    def _type_folders(self) -> dict[str, Path]:
        """{event type: the folder holding its versions}, read once."""
        if self._folders is None:
            folders: dict[str, Path] = {}
            for schema_dir in self.schema_dirs:
                if not schema_dir.is_dir():
                    continue
                for folder in sorted(schema_dir.iterdir()):
                    if folder.is_dir() and _version_files(folder):
                        folders.setdefault(folder.name, folder)
            self._folders = folders
        return self._folders

    def event_types(self) -> list[str]:
        """Every event type with at least one versioned schema file, sorted."""
        return sorted(self._type_folders())

    def schema_path(self, event_type: str, version: int) -> Path:
        """Where version `version` of `event_type` lives (whether or not the file exists)."""
        folder = self._type_folders().get(event_type)
        if folder is None:
            return schema_file(self.schema_dirs[0], event_type, version)
        return folder / f"v{version}.json"

    def published_versions(self, event_type: str) -> tuple[int, ...]:
        """Every version with a schema file, ascending."""
        versions = self._versions.get(event_type)
        if versions is None:
            folder = self._type_folders().get(event_type)
            if folder is None:
                where = ", ".join(str(d) for d in self.schema_dirs) or "(no schema folders)"
                raise UnknownEventType(
                    f"unknown event type {event_type!r}: no schema folder in {where}; "
                    "is its contract package in STRANGLER_CONTRACTS['PACKAGES']?"
                )
            versions = tuple(sorted(_version_files(folder)))
            self._versions[event_type] = versions
        return versions

    def current_version(self, event_type: str) -> int:
        """The newest version of an event type: what producers write."""
        return self.published_versions(event_type)[-1]

    def schema(self, event_type: str, version: int) -> dict[str, Any]:
        """The JSON Schema of one version (the cached object: do not mutate it)."""
        key = (event_type, version)
        found = self._schemas.get(key)
        if found is None:
            if version not in self.published_versions(event_type):
                raise UnknownEventVersion(
                    f"{event_type} has no version {version}; "
                    f"published: {', '.join(f'v{v}' for v in self.published_versions(event_type))}"
                )
            found = load_schema_file(self.schema_path(event_type, version))
            with self._lock:
                found = self._schemas.setdefault(key, found)
        return found

    def _validator(self, event_type: str, version: int) -> _Validator:
        key = (event_type, version)
        validator = self._validators.get(key)
        if validator is None:
            validator = _Validator(self.schema(event_type, version))
            with self._lock:
                validator = self._validators.setdefault(key, validator)
        return validator

    def validate(self, event_type: str, version: int, data: Mapping[str, Any]) -> None:
        """Raise ContractViolation, naming the problems, when data breaks the schema."""
        errors = self._validator(event_type, version).errors(data)
        if errors:
            raise ContractViolation(
                f"{event_type} v{version} is invalid: {describe_errors(errors)}"
            )

    def validate_envelope(self, envelope: Envelope) -> None:
        """Validate an envelope's data against the schema of its own type and version."""
        self.validate(envelope.type, envelope.dataversion, envelope.data)

    def upcast(self, envelope: Envelope) -> Envelope:
        """The event at the current version of its type, validated on both ends.

        The payload is validated against the schema of the version it claims, then passed
        through one upcaster per version step, each result validated against its own version.
        """
        event_type, version = envelope.type, envelope.dataversion
        self.validate(event_type, version, envelope.data)
        current = self.current_version(event_type)
        if version == current:
            return envelope
        data: dict[str, Any] = copy.deepcopy(dict(envelope.data))
        for step in range(version, current):
            function = self.upcasters.get(event_type, step)
            if function is None:
                raise UpcastError(
                    f"{event_type}: no upcaster from v{step} to v{step + 1}; add one to "
                    "its contract package's UPCASTERS (manage.py check_contracts finds these)"
                )
            try:
                data = function(data)
            except Exception as exc:  # an upcaster bug must name the event, not just crash
                raise UpcastError(
                    f"{event_type}: upcaster v{step} -> v{step + 1} failed on event "
                    f"{envelope.id}: {exc!r}"
                ) from exc
            try:
                self.validate(event_type, step + 1, data)
            except ContractViolation as exc:
                raise UpcastError(
                    f"{event_type}: upcaster v{step} -> v{step + 1} produced an invalid payload "
                    f"for event {envelope.id}: {exc}"
                ) from exc
        logger.debug("upcast %s %s from v%s to v%s", event_type, envelope.id, version, current)
        return envelope.with_data(data, current)

    def validate_and_upcast(self, envelope: Envelope) -> Envelope:
        """What a consumer calls on every delivery: the valid event at the current version.

        Raises a ContractError subclass (never returns an unvalidated payload); consumers
        dead-letter such a message at once, since no retry can make it valid.
        """
        return self.upcast(envelope)


def _version_files(folder: Path) -> list[int]:
    return [int(p.stem[1:]) for p in folder.glob("v*.json") if p.stem[1:].isdigit()]


def default_registry() -> SchemaRegistry:
    """The project's registry: the contract packages named by STRANGLER_CONTRACTS['PACKAGES']."""
    from strangler.contracts.project import project_contracts  # project builds on this module

    return project_contracts().registry


def event_types() -> list[str]:
    """Every event type of the project's contracts, sorted."""
    return default_registry().event_types()


def published_versions(event_type: str) -> tuple[int, ...]:
    """Every version with a schema file, ascending."""
    return default_registry().published_versions(event_type)


def current_version(event_type: str) -> int:
    """The newest version of an event type: what producers write."""
    return default_registry().current_version(event_type)


def schema(event_type: str, version: int) -> dict[str, Any]:
    """The JSON Schema of one version of an event type."""
    return default_registry().schema(event_type, version)


def validate(event_type: str, version: int, data: Mapping[str, Any]) -> None:
    """Raise ContractViolation, naming every problem, when data breaks the schema."""
    default_registry().validate(event_type, version, data)


def validate_envelope(envelope: Envelope) -> None:
    """Validate an envelope's data against the schema of its own type and version."""
    default_registry().validate_envelope(envelope)


def upcast(envelope: Envelope) -> Envelope:
    """The event at the current version of its type (validated before and after)."""
    return default_registry().upcast(envelope)


def validate_and_upcast(envelope: Envelope) -> Envelope:
    """What consumers call: validate against its own version, upcast, validate the result."""
    return default_registry().validate_and_upcast(envelope)
