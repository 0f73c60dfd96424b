"""Contract compatibility: released schema versions, the reader-safety rules, and `check_contracts`.

A released version of an event schema is a promise to two parties at once. Consumers validate each
event with the copy of the schema they were deployed with, and replay validates events written
years ago with today's file. So the set of payloads a released version accepts must neither grow
(a consumer still deployed with the released file would dead-letter what producers now send, and
readers would lose a guarantee they rely on) nor shrink (published events would stop validating).
Only annotations may change, plus optional properties where the released version allows other
properties anyway. Anything else is a new version with an upcaster. The structural comparison
below is conservative: a change it cannot prove harmless is reported as breaking.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strangler.contracts.registry import (
    ContractError,
    SchemaRegistry,
    load_schema_file,
    schema_file,
)

RECORD_FORMAT = 1

# Keywords that describe but never decide whether a payload is valid.
ANNOTATIONS = frozenset(
    {"title", "description", "examples", "$comment", "deprecated", "default", "readOnly",
     "writeOnly"}
)  # fmt: skip
_SUBSCHEMA = frozenset(
    {"items", "not", "contains", "propertyNames", "if", "then", "else", "unevaluatedProperties",
     "unevaluatedItems", "additionalItems"}
)  # fmt: skip
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"patternProperties", "dependentSchemas"})
_DEFINITIONS = frozenset({"$defs", "definitions"})
_LOWER_BOUNDS = frozenset(
    {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"}
)
_UPPER_BOUNDS = frozenset(
    {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"}
)

TIGHTENS = "events already published may no longer validate, so replay breaks"
LOOSENS = (
    "consumers still validating with the released file would reject what producers now send, "
    "and readers lose a guarantee they rely on"
)
CHANGES = "published events and deployed consumers no longer agree with it"


class ReleasedRecordError(ContractError):
    """released.json is missing, unreadable or not in the expected format."""


class ReleaseRefused(ContractError):
    """--release was asked for while the contracts have errors."""


# --- the released record -------------------------------------------------------------------


def canonical_json(document: Any) -> str:
    """One spelling of a JSON document: sorted keys, no insignificant whitespace."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_hash(document: Any) -> str:
    """sha256 of the canonical JSON: unchanged by reformatting or key order."""
    return "sha256:" + hashlib.sha256(canonical_json(document).encode()).hexdigest()


@dataclass(frozen=True)
class ReleasedVersion:
    """One released schema version: its hash and the schema as it was released."""

    hash: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class ReleasedRecord:
    """Every released (event type, version) with the schema that was released."""

    versions: Mapping[str, Mapping[int, ReleasedVersion]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ReleasedRecord:
        """Read released.json; a missing file is an empty record (nothing released yet)."""
        if not path.exists():
            return cls()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("format") != RECORD_FORMAT:
                raise ReleasedRecordError(
                    f"{path}: unsupported format {document.get('format')!r}; "
                    f"expected {RECORD_FORMAT}"
                )
            versions = {
                event_type: {
                    int(version.removeprefix("v")): ReleasedVersion(entry["hash"], entry["schema"])
                    for version, entry in by_version.items()
                }
                for event_type, by_version in document["released"].items()
            }
        except ReleasedRecordError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReleasedRecordError(
                f"{path}: not a released-schemas record ({exc!r}); restore it from version "
                "control rather than regenerating it, or history checks lose their baseline"
            ) from exc
        return cls(versions)

    def to_json(self) -> str:
        """The file's text: stable order, so a release shows as a small diff."""
        document = {
            "format": RECORD_FORMAT,
            "comment": (
                "Schemas as released. Written by `python manage.py check_contracts --release`; "
                "never edit by hand: check_contracts compares the schema files against this."
            ),
            "released": {
                event_type: {
                    f"v{version}": {"hash": entry.hash, "schema": entry.schema}
                    for version, entry in sorted(self.versions[event_type].items())
                }
                for event_type in sorted(self.versions)
            },
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def get(self, event_type: str, version: int) -> ReleasedVersion | None:
        """The released entry, or None when this version was never released."""
        return self.versions.get(event_type, {}).get(version)

    def items(self) -> list[tuple[str, int, ReleasedVersion]]:
        """Every released entry as (event_type, version, entry), sorted."""
        return [
            (event_type, version, entry)
            for event_type in sorted(self.versions)
            for version, entry in sorted(self.versions[event_type].items())
        ]


# --- comparing two schemas -----------------------------------------------------------------


@dataclass(frozen=True)
class SchemaChange:
    """One difference between a released schema and its file now; `breaking` for readers."""

    pointer: str
    message: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


def schema_changes(old: Any, new: Any) -> list[SchemaChange]:
    """Every difference between two versions of one schema, breaking ones flagged."""
    return _diff(old, new, "")


def breaking_changes(old: Any, new: Any) -> list[SchemaChange]:
    """Only the differences that break a released version's readers or its history."""
    return [change for change in schema_changes(old, new) if change.breaking]


def _pointer(path: str, key: str | int) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _show(value: Any) -> str:
    text = canonical_json(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _trivial(schema: Any) -> bool:
    """True for schemas that accept everything: true and {} (annotations aside)."""
    if schema is True:
        return True
    return isinstance(schema, dict) and not (set(schema) - ANNOTATIONS)


def _diff(old: Any, new: Any, path: str) -> list[SchemaChange]:
    if old == new:
        return []
    if not isinstance(old, dict) or not isinstance(new, dict):
        if _trivial(old) and _trivial(new):
            return []
        return [SchemaChange(path, f"changed from {_show(old)} to {_show(new)}: {CHANGES}", True)]
    changes: list[SchemaChange] = []
    for key in sorted(set(old) | set(new)):
        here = _pointer(path, key)
        before, after = old.get(key), new.get(key)
        if key not in new or key not in old or before != after:
            changes += _diff_keyword(key, old, new, here)
    return changes


def _diff_keyword(key: str, old: dict, new: dict, here: str) -> list[SchemaChange]:
    before, after = old.get(key), new.get(key)
    if key in ANNOTATIONS:
        return [SchemaChange(here, "annotation changed", False)]
    if key == "properties":
        return _diff_properties(old, new, here)
    if key == "required":
        return _diff_required(before or [], after or [], here)
    if key == "type":
        return _diff_type(before, after, here)
    if key == "enum" and before is not None and after is not None:
        return _diff_enum(before, after, here)
    if key == "additionalProperties":
        return _diff_additional(before, after, here)
    if key in _SUBSCHEMA:
        if before is None or after is None:
            present = after if before is None else before
            if _trivial(present):
                return []
            verb, effect = ("added", TIGHTENS) if before is None else ("removed", LOOSENS)
            return [SchemaChange(here, f"{verb} {_show(present)}: {effect}", True)]
        return _diff(before, after, here)
    if key in _SUBSCHEMA_LISTS:
        if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
            changes: list[SchemaChange] = []
            for index, (b, a) in enumerate(zip(before, after, strict=True)):
                changes += _diff(b, a, _pointer(here, index))
            return changes
        return [
            SchemaChange(here, f"changed from {_show(before)} to {_show(after)}: {CHANGES}", True)
        ]
    if key in _SUBSCHEMA_MAPS or key in _DEFINITIONS:
        return _diff_schema_map(key, before or {}, after or {}, here)
    return _diff_value(key, before, after, here)


def _diff_properties(old: dict, new: dict, here: str) -> list[SchemaChange]:
    before: dict = old.get("properties") or {}
    after: dict = new.get("properties") or {}
    open_before = old.get("additionalProperties", True)
    required_after = set(new.get("required") or [])
    changes: list[SchemaChange] = []
    for name in sorted(set(before) - set(after)):
        changes.append(
            SchemaChange(
                _pointer(here, name),
                f"property {name!r} removed: published events carry it and readers rely on it",
                True,
            )
        )
    for name in sorted(set(after) - set(before)):
        if name in required_after:
            continue  # reported once, as a newly required property
        if open_before is True or _trivial(open_before):
            message = f"optional property {name!r} added; readers that do not know it ignore it"
            changes.append(SchemaChange(_pointer(here, name), message, False))
        else:
            changes.append(
                SchemaChange(
                    _pointer(here, name),
                    f"property {name!r} added while the released version forbids other "
                    f"properties (additionalProperties: {_show(open_before)}): {LOOSENS}",
                    True,
                )
            )
    for name in sorted(set(before) & set(after)):
        changes += _diff(before[name], after[name], _pointer(here, name))
    return changes


def _diff_required(before: list, after: list, here: str) -> list[SchemaChange]:
    added, removed = set(after) - set(before), set(before) - set(after)
    changes: list[SchemaChange] = []
    if added:
        changes.append(SchemaChange(here, f"now requires {sorted(added)}: {TIGHTENS}", True))
    if removed:
        names = sorted(removed)
        changes.append(
            SchemaChange(here, f"no longer requires {names}: readers relying on them break", True)
        )
    if not changes:
        changes.append(SchemaChange(here, "reordered", False))
    return changes


def _as_set(value: Any) -> set[str]:
    if value is None:
        return set()
    return {canonical_json(v) for v in (value if isinstance(value, list) else [value])}


def _diff_type(before: Any, after: Any, here: str) -> list[SchemaChange]:
    if before is None or after is None:
        verb, effect = ("added", TIGHTENS) if before is None else ("removed", LOOSENS)
        return [SchemaChange(here, f"type {verb}: {effect}", True)]
    old, new = _as_set(before), _as_set(after)
    if old == new:
        return [SchemaChange(here, "spelled differently, same types", False)]
    parts = []
    if new - old:
        parts.append(f"now also allows {sorted(json.loads(t) for t in new - old)} ({LOOSENS})")
    if old - new:
        parts.append(f"no longer allows {sorted(json.loads(t) for t in old - new)} ({TIGHTENS})")
    message = f"type changed from {_show(before)} to {_show(after)}: " + "; ".join(parts)
    return [SchemaChange(here, message, True)]


def _diff_enum(before: list, after: list, here: str) -> list[SchemaChange]:
    old, new = _as_set(before), _as_set(after)
    changes: list[SchemaChange] = []
    if new - old:
        values = ", ".join(sorted(new - old))
        changes.append(SchemaChange(here, f"new values {values}: {LOOSENS}", True))
    if old - new:
        values = ", ".join(sorted(old - new))
        changes.append(SchemaChange(here, f"values {values} removed: {TIGHTENS}", True))
    return changes or [SchemaChange(here, "reordered", False)]


def _diff_additional(before: Any, after: Any, here: str) -> list[SchemaChange]:
    before = True if before is None else before
    after = True if after is None else after
    if _trivial(before) and _trivial(after):
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return _diff(before, after, here)
    if _trivial(before):
        message = f"other properties now restricted ({_show(after)}): {TIGHTENS}"
    elif _trivial(after):
        message = f"other properties no longer restricted: {LOOSENS}"
    else:
        message = f"changed from {_show(before)} to {_show(after)}: {CHANGES}"
    return [SchemaChange(here, message, True)]


def _diff_schema_map(key: str, before: dict, after: dict, here: str) -> list[SchemaChange]:
    changes: list[SchemaChange] = []
    for name in sorted(set(before) | set(after)):
        where = _pointer(here, name)
        if name not in after:
            changes.append(SchemaChange(where, f"{name!r} removed: {CHANGES}", True))
        elif name not in before:
            # A new definition changes nothing until a $ref points at it (and that is a change).
            breaking = key not in _DEFINITIONS
            changes.append(SchemaChange(where, f"{name!r} added", breaking))
        else:
            changes += _diff(before[name], after[name], where)
    return changes


def _diff_value(key: str, before: Any, after: Any, here: str) -> list[SchemaChange]:
    if key in ("$schema", "$id"):
        message = f"{key} changed from {_show(before)} to {_show(after)}: {CHANGES}"
        return [SchemaChange(here, message, True)]
    if before is None:
        effect = TIGHTENS
        message = f"added {key} {_show(after)}"
    elif after is None:
        effect = LOOSENS
        message = f"removed {key} {_show(before)}"
    else:
        message = f"{key} changed from {_show(before)} to {_show(after)}"
        effect = CHANGES
        if isinstance(before, int | float) and isinstance(after, int | float):
            if key in _LOWER_BOUNDS:
                effect = TIGHTENS if after > before else LOOSENS
            elif key in _UPPER_BOUNDS:
                effect = TIGHTENS if after < before else LOOSENS
    return [SchemaChange(here, f"{message}: {effect}", True)]


# --- the check -----------------------------------------------------------------------------


class Severity(enum.StrEnum):
    """ERROR fails the check; NOTICE is information (e.g. a version not yet released)."""

    ERROR = "error"
    NOTICE = "notice"


@dataclass(frozen=True)
class Finding:
    """One thing check_contracts has to say about an event type (and version)."""

    severity: Severity
    code: str
    event_type: str
    version: int | None
    message: str

    def __str__(self) -> str:
        where = self.event_type + (f" v{self.version}" if self.version is not None else "")
        return f"{self.severity.upper()} [{self.code}] {where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for --json."""
        return {
            "severity": str(self.severity),
            "code": self.code,
            "event_type": self.event_type,
            "version": self.version,
            "message": self.message,
        }


@dataclass(frozen=True)
class Report:
    """What check_contracts found, and the schemas a release would record."""

    findings: tuple[Finding, ...]
    current: Mapping[tuple[str, int], Mapping[str, Any]]
    checked_versions: int

    @property
    def errors(self) -> list[Finding]:
        """Findings that fail the check."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        """True when nothing breaks readers, history or the catalog."""
        return not self.errors

    def unreleased(self) -> list[tuple[str, int]]:
        """(type, version) pairs that exist as files but are not in the released record."""
        return [(f.event_type, f.version) for f in self.findings if f.code == "unreleased"]


def check_contracts(
    registry: SchemaRegistry,
    released: ReleasedRecord,
    catalog_types: Iterable[str] | None = None,
) -> Report:
    """Check the schema files against the released record, the upcasters and the catalog."""
    findings: list[Finding] = []
    current: dict[tuple[str, int], Mapping[str, Any]] = {}

    def add(severity: Severity, code: str, event_type: str, version: int | None, msg: str) -> None:
        findings.append(Finding(severity, code, event_type, version, msg))

    on_disk = registry.event_types()
    if catalog_types is not None:
        listed = set(catalog_types)
        for event_type in sorted(listed - set(on_disk)):
            add(
                Severity.ERROR,
                "no-schema",
                event_type,
                None,
                f"declared in EVENTS but has no schema files in {registry.schema_dir}",
            )
        for event_type in sorted(set(on_disk) - listed):
            add(
                Severity.ERROR,
                "not-in-catalog",
                event_type,
                None,
                "has schema files but is not declared in its contract package's EVENTS",
            )

    for event_type in on_disk:
        versions = registry.published_versions(event_type)
        expected = list(range(1, versions[-1] + 1))
        if list(versions) != expected:
            missing = sorted(set(expected) - set(versions))
            add(
                Severity.ERROR,
                "version-gap",
                event_type,
                None,
                "versions must run 1..N without gaps; missing "
                + ", ".join(f"v{v}" for v in missing),
            )
        for version in versions:
            path = schema_file(registry.schema_dir, event_type, version)
            try:
                document = load_schema_file(path)
            except ContractError as exc:
                add(Severity.ERROR, "invalid-schema", event_type, version, str(exc))
                continue
            current[(event_type, version)] = document
            schema_id = document.get("$id")
            if isinstance(schema_id, str) and not schema_id.endswith(
                f"{event_type}/v{version}.json"
            ):
                add(
                    Severity.ERROR,
                    "id-mismatch",
                    event_type,
                    version,
                    f"$id {schema_id!r} does not name {event_type}/v{version}.json "
                    "(copied from another file?)",
                )
            if version > 1 and registry.upcasters.get(event_type, version - 1) is None:
                add(
                    Severity.ERROR,
                    "missing-upcaster",
                    event_type,
                    version,
                    f"no upcaster from v{version - 1}; add one to the package's UPCASTERS so "
                    f"consumers can read v{version - 1} events",
                )

    for event_type, from_version in registry.upcasters:
        if (event_type, from_version + 1) not in current:
            add(
                Severity.ERROR,
                "stale-upcaster",
                event_type,
                from_version,
                f"an upcaster v{from_version} -> v{from_version + 1} is registered but there is "
                f"no v{from_version + 1} schema file",
            )

    for event_type, version, entry in released.items():
        path = schema_file(registry.schema_dir, event_type, version)
        if not path.exists():
            add(
                Severity.ERROR,
                "released-deleted",
                event_type,
                version,
                f"released schema {path} was deleted; released versions stay forever, because "
                "stored events and deployed consumers still use them",
            )
            continue
        document = current.get((event_type, version))
        if document is None:
            continue  # reported as invalid-schema above
        if canonical_hash(document) == entry.hash:
            continue
        changes = schema_changes(entry.schema, document)
        breaking = [c for c in changes if c.breaking]
        if breaking:
            lines = "\n    ".join(str(c) for c in breaking)
            add(
                Severity.ERROR,
                "breaking-change",
                event_type,
                version,
                f"released schema changed in a way that breaks its readers:\n    {lines}\n  "
                f"Restore {path.name} and publish the change as "
                f"v{versions_after(registry, event_type)} "
                "with an upcaster instead.",
            )
        else:
            what = "; ".join(str(c) for c in changes) or "reformatted"
            add(
                Severity.NOTICE,
                "changed-compatibly",
                event_type,
                version,
                f"changed without breaking readers ({what}); --release records it",
            )

    for event_type, version in sorted(current):
        if released.get(event_type, version) is None:
            add(
                Severity.NOTICE,
                "unreleased",
                event_type,
                version,
                "not yet released; --release records it (after that it may only change compatibly)",
            )

    order = {Severity.ERROR: 0, Severity.NOTICE: 1}
    findings.sort(key=lambda f: (order[f.severity], f.event_type, f.version or 0, f.code))
    return Report(tuple(findings), current, checked_versions=len(current))


def versions_after(registry: SchemaRegistry, event_type: str) -> int:
    """The number the next version of an event type would get."""
    return registry.published_versions(event_type)[-1] + 1


def release(report: Report, released: ReleasedRecord) -> ReleasedRecord:
    """The record after releasing every current schema file; refused while there are errors."""
    if not report.ok:
        raise ReleaseRefused(
            f"{len(report.errors)} contract error(s); fix them before releasing:\n"
            + "\n".join(str(f) for f in report.errors)
        )
    versions: dict[str, dict[int, ReleasedVersion]] = {
        event_type: dict(by_version) for event_type, by_version in released.versions.items()
    }
    for (event_type, version), document in sorted(report.current.items()):
        versions.setdefault(event_type, {})[version] = ReleasedVersion(
            canonical_hash(document), document
        )
    return ReleasedRecord(versions)
