"""Fixtures for contract tests: throw-away schema folders and released records in tmp dirs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import shared_contracts

# The shop's schema folder: the tests of the shop's published language read it as data.
SCHEMA_DIR = Path(shared_contracts.__file__).resolve().parent / "schemas"
RELEASED_FILE = SCHEMA_DIR.parent / "released.json"

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def write_schema(root: Path, event_type: str, version: int, schema: dict[str, Any]) -> Path:
    """Write <root>/<type>/v<N>.json and return its path."""
    path = root / event_type / f"v{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=2) + "\n")
    return path


def object_schema(
    event_type: str, version: int, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    """A closed object schema in the project's house style."""
    return {
        "$schema": DRAFT,
        "$id": f"https://strangler-kit.invalid/schemas/{event_type}/v{version}.json",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    """A copy of the real schema folder that a test may edit."""
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, target)
    return target


@pytest.fixture
def schema_writer(tmp_path: Path) -> Callable[[str, int, dict[str, Any]], Path]:
    """Write schema files into an empty tmp folder, at tmp_path / "schemas"."""
    root = tmp_path / "schemas"
    root.mkdir(exist_ok=True)
    return lambda event_type, version, schema: write_schema(root, event_type, version, schema)
