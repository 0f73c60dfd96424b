"""The API contract of one context: its paths in an OpenAPI schema and the components they use."""

from __future__ import annotations

import json
from typing import Any


def current_openapi_schema() -> dict[str, Any]:
    """The OpenAPI schema of this process's URLconf, as drf-spectacular serves it (JSON-safe)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def context_contract(schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The paths under `prefix` (e.g. "/api/customers/") and every component they reference.

    Titles, versions and other contexts' paths are left out: two services serve the same contract
    for a context when this part of their schemas is equal.
    """
    paths = {
        path: item for path, item in schema.get("paths", {}).items() if path.startswith(prefix)
    }
    components = schema.get("components", {})
    wanted: dict[str, dict[str, Any]] = {}
    pending = list(_refs(paths))
    while pending:
        ref = pending.pop()
        _, section, name = ref.removeprefix("#/").split("/", 2)[-3:]
        if name in wanted.setdefault(section, {}):
            continue
        body = components.get(section, {}).get(name)
        wanted[section][name] = body
        pending.extend(_refs(body))
    security = {
        name: scheme
        for name, scheme in components.get("securitySchemes", {}).items()
        if name in _security_names(paths)
    }
    if security:
        wanted["securitySchemes"] = security
    return {"paths": paths, "components": {k: dict(sorted(v.items())) for k, v in wanted.items()}}


def _refs(node: Any) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                found.append(value)
            else:
                found.extend(_refs(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_refs(value))
    return found


def _security_names(paths: dict[str, Any]) -> set[str]:
    names = set()
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict):
                for requirement in operation.get("security", []):
                    names.update(requirement)
    return names
