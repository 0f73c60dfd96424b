"""Settings of strangler.ownership (STRANGLER_OWNERSHIP), with their defaults, read in one place."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

MONOLITH = "monolith"

DEFAULTS: dict[str, Any] = {
    # Django database alias of the control database every side (and the gateway) shares.
    "DATABASE": "control",
    # {context: {"service": name of the extracted service (its STRANGLER_SERVICE_NAME),
    #            "default_writer": writer while the control database holds no row}}.
    "CONTEXTS": {},
    # Seconds a process may reuse the ownership state it read; the cutover waits longer than this
    # after freezing before it trusts that no process still believes writes are open.
    "CACHE_TTL": 0.5,
    # Retry-After (seconds) sent with the 503 of a frozen context.
    "RETRY_AFTER": 2,
}


class OwnershipConfigurationError(RuntimeError):
    """STRANGLER_OWNERSHIP cannot be used as configured; the message says what to change."""


class UnknownContext(OwnershipConfigurationError):
    """A context that STRANGLER_OWNERSHIP['CONTEXTS'] does not list."""


@dataclass(frozen=True)
class ContextSpec:
    """One context whose writes can move: the service that may take them, the initial writer."""

    name: str
    service: str
    default_writer: str

    @property
    def sides(self) -> tuple[str, str]:
        """The two possible writers: the monolith and the service."""
        return (MONOLITH, self.service)

    def side(self, alias: str) -> str:
        """`monolith`, `service` or a side's own name, as the side's name."""
        if alias == "service":
            return self.service
        if alias in self.sides:
            return alias
        raise OwnershipConfigurationError(
            f"{alias!r} is not a side of context {self.name!r}; use 'monolith' or 'service' "
            f"(or {self.service!r})."
        )


@dataclass(frozen=True)
class OwnershipSettings:
    database: str
    contexts: Mapping[str, ContextSpec]
    cache_ttl: float
    retry_after: int

    def context(self, name: str) -> ContextSpec:
        try:
            return self.contexts[name]
        except KeyError:
            raise UnknownContext(
                f"unknown context {name!r}; STRANGLER_OWNERSHIP['CONTEXTS'] lists: "
                f"{', '.join(sorted(self.contexts)) or 'nothing'}."
            ) from None


@functools.cache
def ownership_settings() -> OwnershipSettings:
    """STRANGLER_OWNERSHIP merged over DEFAULTS; read once (a consumer asks for every event)."""
    values = {**DEFAULTS, **dict(getattr(settings, "STRANGLER_OWNERSHIP", {}) or {})}
    contexts: dict[str, ContextSpec] = {}
    for name, raw in dict(values["CONTEXTS"] or {}).items():
        if not isinstance(raw, Mapping) or not raw.get("service"):
            raise OwnershipConfigurationError(
                f"STRANGLER_OWNERSHIP['CONTEXTS'][{name!r}] must be a dict with 'service' (the "
                "extracted service's STRANGLER_SERVICE_NAME)."
            )
        contexts[str(name)] = ContextSpec(
            name=str(name),
            service=str(raw["service"]),
            default_writer=str(raw.get("default_writer") or MONOLITH),
        )
    return OwnershipSettings(
        database=str(values["DATABASE"]),
        contexts=contexts,
        cache_ttl=float(values["CACHE_TTL"]),
        retry_after=int(values["RETRY_AFTER"]),
    )


@receiver(setting_changed)
def _forget_ownership_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "STRANGLER_OWNERSHIP":
        ownership_settings.cache_clear()


def this_side() -> str:
    """Name of the side this process runs as (STRANGLER_SERVICE_NAME)."""
    return str(getattr(settings, "STRANGLER_SERVICE_NAME", MONOLITH))
