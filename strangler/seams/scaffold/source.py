"""Reading one context of the monolith: its routes, API contract, event schemas, sync fields.

Everything is read in the monolith's process (app registry, URLconf, OpenAPI schema, settings);
what the other modules make of it is plain text, so the service never imports the monolith.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import AppConfig

from strangler.contracts.conf import contracts_settings
from strangler.seams.scaffold.plan import ScaffoldError


@dataclass
class ContextSource:
    """What the generator reads from the monolith about one context."""

    app_config: AppConfig
    prefix: str  # URL prefix the monolith mounts the context's urls at, e.g. "api/customers/"
    contract: dict[str, Any]  # the context's OpenAPI paths and components
    events: dict[str, dict[str, Any]]  # state-transfer event type -> JSON schema (newest)
    versions: dict[str, int]  # state-transfer event type -> its newest version (the schema's)
    other_packages: dict[str, str]  # other context packages -> their app label
    contract_packages: list[str]  # STRANGLER_CONTRACTS["PACKAGES"]
    sync: dict[str, dict[str, Any]]  # the monolith's STRANGLER_SYNC aggregates of the context


def contract_roots() -> tuple[str, ...]:
    """Top-level packages of the project's contract packages: a service may import them too."""
    return tuple(name.split(".")[0] for name in contracts_settings().packages)


def read_context(app_config: AppConfig, all_configs: Iterable[AppConfig]) -> ContextSource:
    """Read one context's URL prefix, API contract, event schemas and sync fields."""
    from django.conf import settings

    from strangler.seams.contract import context_contract, current_openapi_schema

    prefix = _mounted_prefix(f"{app_config.name}.urls")
    root = app_config.name.rsplit(".", 1)[0] + "."
    others = {
        config.name: config.label
        for config in all_configs
        if config.label != app_config.label and config.name.startswith(root)
    }
    sync = dict(getattr(settings, "STRANGLER_SYNC", {}) or {}).get("CONTEXTS", {})
    events = _state_transfer_schemas(app_config.label)
    return ContextSource(
        app_config=app_config,
        prefix=prefix,
        contract=context_contract(current_openapi_schema(), f"/{prefix}"),
        events={name: schema for name, (_, schema) in events.items()},
        versions={name: version for name, (version, _) in events.items()},
        other_packages=others,
        contract_packages=list(contracts_settings().packages),
        sync={name: dict(raw) for name, raw in sync.get(app_config.label, {}).items()},
    )


def _mounted_prefix(urls_module: str) -> str:
    from django.urls import URLResolver, get_resolver

    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            module = getattr(pattern.urlconf_module, "__name__", pattern.urlconf_name)
            if module == urls_module:
                return str(pattern.pattern)
    raise ScaffoldError(
        f"{urls_module} is not included in the monolith's ROOT_URLCONF; the service mirrors "
        "the context's routes, so the context needs a urls module that is mounted."
    )


def _state_transfer_schemas(label: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """Each state-transfer event type of the context: its newest version and that schema.

    The handlers are written for the newest version: the inbox upcasts an older event (with the
    contract packages' upcasters, which the service loads too) before it reaches them.
    """
    from strangler.contracts import registry

    events = {}
    for event_type in registry.event_types():
        context, _, verb = event_type.partition(".")
        if context == label and verb.rsplit(".", 1)[-1] in {"upserted", "deleted"}:
            version = registry.current_version(event_type)
            events[event_type] = (version, registry.schema(event_type, version))
    return events
