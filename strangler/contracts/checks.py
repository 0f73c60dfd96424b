"""System checks: the project's contract packages load, declarations and schema folders agree."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from strangler.contracts.conf import DEFAULTS
from strangler.contracts.project import load_project_contracts
from strangler.contracts.registry import ContractError


@register()
def check_contract_packages(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """contracts.E001: declaration/schema mismatch; E002: a schema file does not load;
    E003: STRANGLER_CONTRACTS is malformed; E004: a contract package does not load;
    W001: no contract package is configured."""
    configured = getattr(settings, "STRANGLER_CONTRACTS", {})
    if not isinstance(configured, dict):
        return [Error("STRANGLER_CONTRACTS must be a dict.", id="contracts.E003")]
    messages: list[CheckMessage] = [
        Error(
            f"Unknown STRANGLER_CONTRACTS setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="contracts.E003",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    names = configured.get("PACKAGES", [])
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        messages.append(
            Error(
                "STRANGLER_CONTRACTS['PACKAGES'] must be a list of dotted package paths.",
                id="contracts.E003",
            )
        )
        return messages
    if not names:
        messages.append(
            Warning(
                "No contract package is configured: this project can record or consume no event.",
                hint="Set STRANGLER_CONTRACTS = {'PACKAGES': ['<your contracts package>']}; "
                "see docs/howto/adopt-in-your-project.md.",
                id="contracts.W001",
            )
        )
        return messages
    try:
        contracts = load_project_contracts(names)
    except ContractError as exc:
        messages.append(Error(str(exc), id="contracts.E004"))
        return messages
    for package in contracts.packages:
        registry = package.registry()
        on_disk, listed = set(registry.event_types()), set(package.event_types())
        for event_type in sorted(listed ^ on_disk):
            where = "EVENTS only" if event_type in listed else "schema files only"
            messages.append(
                Error(
                    f"event type {event_type!r} of contract package {package.name!r} is in {where}",
                    hint=f"Declare it in {package.name}.EVENTS or give it a "
                    f"{package.schema_dir}/<type>/v1.json.",
                    id="contracts.E001",
                )
            )
        for event_type in sorted(on_disk):
            for version in registry.published_versions(event_type):
                try:
                    registry.schema(event_type, version)
                except ContractError as exc:
                    messages.append(
                        Error(str(exc), hint="Fix the schema file.", id="contracts.E002")
                    )
    return messages
