"""The compatibility rule: which edits of a released schema are allowed and which break readers."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from strangler.contracts import compat
from strangler.contracts.compat import (
    ReleasedRecord,
    ReleasedRecordError,
    ReleaseRefused,
    breaking_changes,
    canonical_hash,
    check_contracts,
    release,
    schema_changes,
)
from strangler.contracts.registry import SchemaRegistry
from strangler.contracts.upcasters import UpcasterRegistry
from tests.contracts.conftest import object_schema

ORDER = "shop.order.noted"


def released_schema() -> dict[str, Any]:
    schema = object_schema(
        ORDER,
        1,
        {
            "id": {"type": "integer", "minimum": 1},
            "status": {"type": "string", "enum": ["new", "paid"]},
            "note": {"type": "string", "maxLength": 200, "description": "free text"},
            "total": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"},
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                    "required": ["sku", "qty"],
                },
            },
        },
        ["id", "status", "total", "lines"],
    )
    schema["title"] = "Order noted"
    return schema


Edit = Callable[[dict[str, Any]], None]


def _set(path: list[str], value: Any) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        target = schema
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _delete(path: list[str]) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        target = schema
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


def _open(schema: dict[str, Any]) -> None:
    schema.pop("additionalProperties")


ALLOWED: dict[str, Edit] = {
    "title changed": _set(["title"], "An order was noted"),
    "property description changed": _set(["properties", "note", "description"], "a note"),
    "examples added": _set(["properties", "id", "examples"], [1, 2]),
    "required reordered": _set(["required"], ["lines", "total", "status", "id"]),
    "enum reordered": _set(["properties", "status", "enum"], ["paid", "new"]),
    "type spelled as a list": _set(["properties", "note", "type"], ["string"]),
    "unreferenced $defs added": _set(["$defs"], {"money": {"type": "string"}}),
    "deprecated flag added": _set(["properties", "note", "deprecated"], True),
}

BREAKING: dict[str, tuple[Edit, str]] = {
    "required property removed": (_delete(["properties", "total"]), "property 'total' removed"),
    "optional property removed": (_delete(["properties", "note"]), "property 'note' removed"),
    "property made optional": (_set(["required"], ["id", "status", "lines"]), "no longer requires"),
    "new required property": (
        _set(["required"], ["id", "status", "total", "lines", "note"]),
        "now requires ['note']",
    ),
    "type changed": (_set(["properties", "id", "type"], "string"), "no longer allows ['integer']"),
    "type widened with null": (
        _set(["properties", "note", "type"], ["string", "null"]),
        "now also allows ['null']",
    ),
    "enum value removed": (
        _set(["properties", "status", "enum"], ["new"]),
        'values "paid" removed',
    ),
    "enum value added": (
        _set(["properties", "status", "enum"], ["new", "paid", "void"]),
        'new values "void"',
    ),
    "property added to a closed object": (
        _set(["properties", "channel"], {"type": "string"}),
        "forbids other properties",
    ),
    "additionalProperties false dropped": (
        _delete(["additionalProperties"]),
        "no longer restricted",
    ),
    "bound tightened": (
        _set(["properties", "note", "maxLength"], 100),
        "maxLength changed from 200 to 100: events already published",
    ),
    "bound loosened": (
        _set(["properties", "id", "minimum"], 0),
        "minimum changed from 1 to 0: consumers still validating",
    ),
    "pattern changed": (_set(["properties", "total", "pattern"], "^[0-9]+$"), "pattern changed"),
    "format added": (_set(["properties", "note", "format"], "email"), "added format"),
    "nested required field removed": (
        _set(["properties", "lines", "items", "required"], ["sku"]),
        "/properties/lines/items/required: no longer requires ['qty']",
    ),
    "nested type changed": (
        _set(["properties", "lines", "items", "properties", "qty", "type"], "number"),
        "/properties/lines/items/properties/qty/type",
    ),
    "$id changed": (_set(["$id"], "https://strangler-kit.invalid/other.json"), "$id changed"),
    "anyOf introduced": (
        _set(["properties", "note", "anyOf"], [{"maxLength": 5}, {"minLength": 9}]),
        "changed from null",
    ),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_allowed_edit_of_a_released_schema_is_not_breaking(name: str) -> None:
    old = released_schema()
    new = copy.deepcopy(old)
    ALLOWED[name](new)

    assert old != new
    assert breaking_changes(old, new) == []
    assert schema_changes(old, new), "a harmless change is still reported as a change"


@pytest.mark.parametrize("name", sorted(BREAKING))
def test_reader_breaking_edit_of_a_released_schema_is_reported(name: str) -> None:
    edit, expected = BREAKING[name]
    old = released_schema()
    new = copy.deepcopy(old)
    edit(new)

    found = [str(change) for change in breaking_changes(old, new)]

    assert any(expected in line for line in found), found


def test_optional_property_may_be_added_where_other_properties_are_allowed() -> None:
    old = released_schema()
    _open(old)
    new = copy.deepcopy(old)
    new["properties"]["channel"] = {"type": "string"}

    assert breaking_changes(old, new) == []


def test_canonical_hash_ignores_formatting_and_key_order() -> None:
    schema = released_schema()
    reordered = json.loads(json.dumps(schema, sort_keys=True, indent=4))

    assert canonical_hash(schema) == canonical_hash(reordered)
    assert canonical_hash(schema) != canonical_hash({**schema, "title": "x"})


# --- the whole check, on tmp schema folders -------------------------------------------------


@pytest.fixture
def released_repo(schema_writer) -> tuple[SchemaRegistry, ReleasedRecord]:
    """A folder with ORDER v1, released."""
    root = schema_writer(ORDER, 1, released_schema()).parent.parent
    registry = SchemaRegistry(root)
    report = check_contracts(registry, ReleasedRecord(), [ORDER])
    return registry, release(report, ReleasedRecord())


def codes(report: compat.Report) -> list[str]:
    return [finding.code for finding in report.findings]


def test_a_released_unchanged_folder_passes(released_repo) -> None:
    registry, record = released_repo

    report = check_contracts(registry, record, [ORDER])

    assert report.ok and report.findings == () and report.checked_versions == 1


def test_unreleased_versions_are_reported_without_failing(schema_writer) -> None:
    root = schema_writer(ORDER, 1, released_schema()).parent.parent

    report = check_contracts(SchemaRegistry(root), ReleasedRecord(), [ORDER])

    assert report.ok and codes(report) == ["unreleased"]
    assert report.unreleased() == [(ORDER, 1)]


def test_an_incompatible_edit_of_a_released_schema_fails_with_the_reason(released_repo) -> None:
    _, record = released_repo
    registry = SchemaRegistry(released_repo[0].schema_dir)
    path = registry.schema_dir / ORDER / "v1.json"
    schema = json.loads(path.read_text())
    schema["properties"]["id"]["type"] = "string"
    path.write_text(json.dumps(schema))

    report = check_contracts(registry, record, [ORDER])

    assert not report.ok
    [error] = report.errors
    assert error.code == "breaking-change" and error.version == 1
    assert '/properties/id/type: type changed from "integer" to "string"' in error.message
    assert "publish the change as v2 with an upcaster" in error.message
    with pytest.raises(ReleaseRefused, match="breaking-change"):
        release(report, record)


def test_a_compatible_edit_is_a_notice_and_release_records_it(released_repo) -> None:
    registry, record = released_repo
    path = registry.schema_dir / ORDER / "v1.json"
    schema = json.loads(path.read_text())
    schema["description"] = "An order got a note."
    path.write_text(json.dumps(schema))
    registry = SchemaRegistry(registry.schema_dir)

    report = check_contracts(registry, record, [ORDER])
    assert report.ok and codes(report) == ["changed-compatibly"]

    updated = release(report, record)
    assert check_contracts(registry, updated, [ORDER]).findings == ()


def test_deleting_a_released_version_fails(released_repo) -> None:
    registry, record = released_repo
    (registry.schema_dir / ORDER / "v1.json").unlink()

    report = check_contracts(SchemaRegistry(registry.schema_dir), record, [])

    assert codes(report) == ["released-deleted"]


def test_a_new_version_needs_an_upcaster_and_a_stale_upcaster_is_an_error(schema_writer) -> None:
    schema_writer(ORDER, 1, released_schema())
    v2 = released_schema()
    v2["$id"] = v2["$id"].replace("v1.json", "v2.json")
    root = schema_writer(ORDER, 2, v2).parent.parent

    missing = check_contracts(SchemaRegistry(root), ReleasedRecord(), [ORDER])
    assert "missing-upcaster" in codes(missing)

    upcasters = UpcasterRegistry.of((ORDER, 1, dict), (ORDER, 2, dict))
    stale = check_contracts(SchemaRegistry(root, upcasters), ReleasedRecord(), [ORDER])
    assert [f.code for f in stale.errors] == ["stale-upcaster"]


def test_version_gap_copied_id_and_catalog_mismatch_are_errors(schema_writer) -> None:
    schema_writer(ORDER, 1, released_schema())
    root = schema_writer(ORDER, 3, released_schema()).parent.parent  # $id still says v1

    report = check_contracts(SchemaRegistry(root), ReleasedRecord(), ["shop.order.other"])

    assert {f.code for f in report.errors} == {
        "version-gap",
        "id-mismatch",
        "missing-upcaster",
        "no-schema",
        "not-in-catalog",
    }


def test_an_invalid_schema_file_is_an_error_not_a_crash(schema_writer) -> None:
    root = schema_writer(ORDER, 1, {"type": 5}).parent.parent

    report = check_contracts(SchemaRegistry(root), ReleasedRecord(), [ORDER])

    assert [f.code for f in report.errors] == ["invalid-schema"]


def test_released_record_round_trips_through_its_file(released_repo, tmp_path: Path) -> None:
    _, record = released_repo
    path = tmp_path / "released.json"
    path.write_text(record.to_json())

    assert ReleasedRecord.load(path) == record
    assert ReleasedRecord.load(tmp_path / "absent.json") == ReleasedRecord()
    path.write_text('{"format": 1, "released": {"x.y.z": {"v1": {"schema": {}}}}}')
    with pytest.raises(ReleasedRecordError, match="not a released-schemas record"):
        ReleasedRecord.load(path)
