"""System checks: the event catalog and the schema folders agree, and every schema file loads."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register

from shared_contracts import catalog
from shared_contracts.registry import ContractError, default_registry


@register()
def check_event_catalog(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """contracts.E001: catalog/schema mismatch; contracts.E002: a schema file does not load."""
    registry = default_registry()
    messages: list[CheckMessage] = []
    on_disk, listed = set(registry.event_types()), set(catalog.catalog_types())
    for event_type in sorted(listed ^ on_disk):
        where = "the catalog only" if event_type in listed else "schema files only"
        messages.append(
            Error(
                f"event type {event_type!r} is in {where}",
                hint="Add it to shared_contracts/catalog.py or give it a schemas/<type>/v1.json.",
                id="contracts.E001",
            )
        )
    for event_type in sorted(on_disk):
        for version in registry.published_versions(event_type):
            try:
                registry.schema(event_type, version)
            except ContractError as exc:
                messages.append(Error(str(exc), hint="Fix the schema file.", id="contracts.E002"))
    return messages
