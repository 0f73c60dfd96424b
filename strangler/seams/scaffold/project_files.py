"""The service's project files: settings, URLs, entry points, app config, write refusals, and
the generated tests. Settings are the kit's blocks (strangler.settings_blocks) filled with the
service's names, so every generated service has the one shape the kit drives."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from strangler.seams.scaffold.plan import GeneratedFile, Plan
from strangler.seams.scaffold.source import ContextSource
from strangler.seams.scaffold.templates import join_parts, python_literal, render
from strangler.seams.scaffold.transplant import Renamer, render_import

WRITE_METHODS = ("post", "put", "patch", "delete")
BUILDERS = ("snapshot", "deleted_payload")  # STRANGLER_SYNC keys naming payload builders
MONEY_PATTERNS = ("\\d{2}$", "\\d{1,2}$", "\\d{0,2}$")


def names(plan: Plan, source: ContextSource) -> dict[str, Any]:
    """The values every template may use."""
    return {
        "name": plan.name,
        "NAME": plan.env_prefix,
        "app": plan.app,
        "package": plan.package,
        "app_package": plan.app_package,
        "service_name": plan.service_name,
        "title": plan.name.replace("_", " ").title().replace(" ", ""),
        "prefix": source.prefix,
    }


def project_files(
    source: ContextSource, plan: Plan, binding_keys: list[str], sync: dict[str, Any]
) -> list[GeneratedFile]:
    """manage.py, config/ (settings, urls, wsgi, asgi, celery) and the app's apps/services."""
    values = names(plan, source)
    config = source.app_config
    settings = render(
        "settings.py.tmpl",
        root_index=plan.depth - 1,
        contract_packages=python_literal(source.contract_packages, used=40),
        binding_keys=python_literal(binding_keys, indent=4, used=18),
        sync_contexts=python_literal({plan.app: sync}, indent=4, used=16),
        **values,
    )
    out, app_dir = plan.out, plan.out / plan.app
    monolith_services = f"{config.name.replace('.', '/')}/services.py"
    return [
        GeneratedFile(out / "__init__.py", '"""An extracted service."""\n'),
        GeneratedFile(out / "manage.py", render("manage.py.tmpl", depth=plan.depth, **values)),
        GeneratedFile(out / "config" / "__init__.py", '"""Configuration of the service."""\n'),
        GeneratedFile(out / "config" / "settings.py", settings),
        GeneratedFile(out / "config" / "urls.py", render("urls.py.tmpl", **values)),
        GeneratedFile(out / "config" / "wsgi.py", render("wsgi.py.tmpl", **values)),
        GeneratedFile(out / "config" / "asgi.py", render("asgi.py.tmpl", **values)),
        GeneratedFile(out / "config" / "celery.py", render("celery.py.tmpl", **values)),
        GeneratedFile(app_dir / "__init__.py", '"""The context\'s app inside the service."""\n'),
        GeneratedFile(
            app_dir / "apps.py",
            render("apps.py.tmpl", verbose_name=str(config.verbose_name), **values),
        ),
        GeneratedFile(
            app_dir / "services.py",
            render("services.py.tmpl", monolith_services=monolith_services, **values),
        ),
        GeneratedFile(app_dir / "migrations" / "__init__.py", ""),
    ]


def sync_aggregates(
    source: ContextSource, plan: Plan, models_of: dict[str, Any], samples: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The service's STRANGLER_SYNC aggregates of the context: the monolith's entries with the
    payload builders renamed into the service; without entries, derived from the schemas."""
    renamer = Renamer(source.app_config, plan, source.other_packages)
    if source.sync:
        aggregates = {}
        for name, raw in source.sync.items():
            # Every key as the monolith has it (fields or how to read them from the schema),
            # but the payload builders, which live in the service's own events module.
            entry = {k: v for k, v in raw.items() if k not in BUILDERS}
            for key in BUILDERS:
                if raw.get(key):
                    module, _, function = str(raw[key]).rpartition(".")
                    renamed = renamer.module(module)
                    if renamed is not None:
                        entry[key] = f"{renamed}.{function}"
            aggregates[name] = entry
        return aggregates
    plan.notes.append(
        f"STRANGLER_SYNC of {plan.app} derived from the event schemas: give the monolith's "
        "settings the same entries (docs/howto/extract-another-context.md)"
    )
    events_module = _events_module(source)
    aggregates = {}
    for event_type, schema in sorted(source.events.items()):
        _, aggregate, verb = event_type.split(".")
        if verb != "upserted" or event_type not in models_of:
            continue
        # Only the payload fields the handler stores: reconcile compares columns.
        stored = samples[event_type]["fields"]
        kinds = schema_field_kinds(schema)
        entry: dict[str, Any] = {
            "model": models_of[event_type]._meta.label,
            "fields": {name: kind for name, kind in kinds.items() if name in stored},
        }
        builder = f"{aggregate}_upserted_payload"
        if events_module is not None and hasattr(events_module, builder):
            entry["snapshot"] = f"{plan.app_package}.events.{builder}"
        aggregates[aggregate] = entry
    return aggregates


def _events_module(source: ContextSource) -> Any:
    try:
        return importlib.import_module(f"{source.app_config.name}.events")
    except ImportError:
        return None


def schema_field_kinds(schema: dict[str, Any]) -> dict[str, str]:
    """{payload field: sync kind} of a snapshot schema's scalar properties (the id excluded)."""
    kinds = {}
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if name == "id" or kind in {"array", "object", None}:
            continue
        if kind == "string":
            pattern = str(prop.get("pattern", ""))
            if prop.get("format") == "date-time":
                kinds[name] = "timestamp"
            elif prop.get("format") == "date":
                kinds[name] = "date"
            elif pattern.endswith(MONEY_PATTERNS) and "\\." in pattern:
                kinds[name] = "money"
            else:
                kinds[name] = "text"
        else:
            kinds[name] = {"integer": "int", "number": "text", "boolean": "bool"}[kind]
    return kinds


def test_files(source: ContextSource, plan: Plan, samples: dict[str, Any]) -> list[GeneratedFile]:
    """Tests of the API contract and the handlers, with their samples and the monolith's
    contract; a pytest.ini when the tests live inside the service's folder."""
    values = names(plan, source)
    paths = source.contract.get("paths", {})
    contract_parts = {
        "lists": any("{" not in path and "get" in item for path, item in paths.items()),
        "details": any("{" in path and "get" in item for path, item in paths.items()),
        "writes": any(set(item) & set(WRITE_METHODS) for item in paths.values()),
    }
    handler_parts = {
        "events": bool(samples),
        "upserted": any(t.endswith(".upserted") for t in samples),
        "deleted": any(t.endswith(".deleted") for t in samples),
    }
    handlers_import = "\n".join(render_import(f"{plan.app_package}.handlers", ["HANDLERS"]))
    tests = plan.tests_dir
    files = [
        GeneratedFile(tests / "__init__.py", '"""Tests of the generated service."""\n'),
        GeneratedFile(tests / "conftest.py", render("conftest.py.tmpl", **values)),
        GeneratedFile(
            tests / "test_api_contract.py",
            _with_parts("test_api_contract", contract_parts, values),
        ),
        GeneratedFile(
            tests / "test_handlers.py",
            _with_parts(
                "test_handlers", handler_parts, {**values, "handlers_import": handlers_import}
            ),
        ),
        GeneratedFile(tests / "event_samples.json", json.dumps(samples, indent=2) + "\n"),
        GeneratedFile(
            tests / "monolith_contract.json",
            json.dumps(source.contract, indent=2, sort_keys=True) + "\n",
        ),
    ]
    if tests.is_relative_to(plan.out):
        files.append(
            GeneratedFile(
                plan.out / "pytest.ini",
                render(
                    "pytest.ini.tmpl",
                    pythonpath=Path(*[".."] * plan.depth).as_posix(),
                    tests_path=tests.relative_to(plan.out).as_posix(),
                    **values,
                ),
            )
        )
    return files


def _with_parts(module: str, wanted: dict[str, bool], values: dict[str, Any]) -> str:
    parts = [render(f"{module}.{part}.tmpl", **values) for part, keep in wanted.items() if keep]
    return join_parts(render(f"{module}.py.tmpl", **values), *parts)
