"""Settings of strangler.contracts (STRANGLER_CONTRACTS), with their defaults, read in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

DEFAULTS = {
    # Dotted paths of the project's contract packages (EVENTS, UPCASTERS, schemas/,
    # released.json): the event types this project publishes and consumes.
    "PACKAGES": [],
    # Where generate_asyncapi writes asyncapi.yaml and events.md; default BASE_DIR/docs/events.
    "DOCS_DIR": None,
}


@dataclass(frozen=True)
class ContractsSettings:
    packages: tuple[str, ...]
    docs_dir: Path


def contracts_settings() -> ContractsSettings:
    """STRANGLER_CONTRACTS merged over DEFAULTS."""
    configured = dict(getattr(settings, "STRANGLER_CONTRACTS", {}))
    values = {**DEFAULTS, **configured}
    docs_dir = values["DOCS_DIR"]
    if docs_dir is None:
        docs_dir = Path(getattr(settings, "BASE_DIR", Path.cwd())) / "docs" / "events"
    return ContractsSettings(packages=tuple(values["PACKAGES"]), docs_dir=Path(docs_dir))
