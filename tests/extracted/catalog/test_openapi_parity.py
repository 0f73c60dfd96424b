"""The service serves the monolith's catalog contract: OpenAPI of /api/catalog/ compared."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.processes import PYTHON, ROOT, base_env

CATALOG_PREFIX = "/api/catalog/"
# Documentation a client never acts on; every other difference (types, formats, required, enums,
# nullability, parameters, status codes, content types) fails the test.
PROSE_KEYS = frozenset({"description", "summary", "title", "externalDocs", "example"})


def generate_schema(manage_py: Path, out: Path) -> dict[str, Any]:
    """Run `manage.py spectacular` in its own process: each side has its own Django settings.

    Both sides point at empty databases: drf-spectacular lists the rows of a ModelChoiceFilter's
    queryset as an enum, so the schema of a populated database depends on its data.
    """
    empty = f"sqlite:///{out.with_suffix('.sqlite3')}"
    result = subprocess.run(
        [PYTHON, str(manage_py), "spectacular", "--format", "openapi-json", "--file", str(out)],
        cwd=ROOT,
        env=base_env(DATABASE_URL=empty, CATALOG_DATABASE_URL=empty),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{manage_py} spectacular failed:\n{result.stderr[-3000:]}"
    return json.loads(out.read_text())


def resolve(node: Any, document: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Inline every $ref (component names differ freely; their content must not)."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                return {"$recursive": ref.rsplit("/", 1)[-1]}
            target: Any = document
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target, document, (*seen, ref))
        return {k: resolve(v, document, seen) for k, v in node.items() if k not in PROSE_KEYS}
    if isinstance(node, list):
        resolved = [resolve(item, document, seen) for item in node]
        if all(isinstance(item, dict) and "name" in item and "in" in item for item in resolved):
            resolved.sort(key=lambda p: (p["in"], p["name"]))  # parameter order is not contract
        return resolved
    return node


def catalog_contract(document: dict[str, Any]) -> dict[str, Any]:
    """Paths under /api/catalog/ with refs resolved, plus the security schemes they use."""
    paths = {
        path: {method: resolve(op, document) for method, op in item.items()}
        for path, item in document["paths"].items()
        if path.startswith(CATALOG_PREFIX)
    }
    schemes = document.get("components", {}).get("securitySchemes", {})
    return {"paths": paths, "securitySchemes": resolve(schemes, document)}


def differences(left: Any, right: Any, where: str = "") -> list[str]:
    """Readable list of what differs: `where: monolith=... service=...`."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right), key=str):
            if key not in right:
                found.append(f"{where}/{key}: only in the monolith")
            elif key not in left:
                found.append(f"{where}/{key}: only in the service")
            else:
                found.extend(differences(left[key], right[key], f"{where}/{key}"))
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [
            d
            for i, pair in enumerate(zip(left, right, strict=True))
            for d in differences(*pair, f"{where}[{i}]")
        ]
    return [] if left == right else [f"{where}: monolith={left!r} service={right!r}"]


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = tmp_path_factory.mktemp("openapi")
    monolith = generate_schema(ROOT / "manage.py", folder / "monolith.json")
    service = generate_schema(ROOT / "extracted" / "catalog" / "manage.py", folder / "service.json")
    return catalog_contract(monolith), catalog_contract(service)


def test_service_serves_every_catalog_path_and_method_of_the_monolith(contracts: Any) -> None:
    monolith, service = contracts
    assert monolith["paths"], "the monolith publishes no /api/catalog/ paths"
    assert {p: sorted(ops) for p, ops in service["paths"].items()} == {
        p: sorted(ops) for p, ops in monolith["paths"].items()
    }


def test_catalog_operations_are_identical_to_the_monolith(contracts: Any) -> None:
    monolith, service = contracts
    found = differences(monolith, service)
    assert not found, "the service's catalog contract differs:\n" + "\n".join(found[:40])


def test_the_comparison_notices_a_changed_field_type(contracts: Any) -> None:
    monolith, _ = contracts
    changed = json.loads(json.dumps(monolith))
    product = changed["paths"]["/api/catalog/products/{product_id}/"]["get"]
    schema = product["responses"]["200"]["content"]["application/json"]["schema"]
    schema["properties"]["price"]["type"] = "number"
    assert differences(monolith, changed) == [
        "/paths//api/catalog/products/{product_id}//get/responses/200/content/application/json"
        "/schema/properties/price/type: monolith='string' service='number'"
    ]
