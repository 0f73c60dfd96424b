"""System checks of strangler.ownership: the control database and contexts are usable."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from strangler.ownership.conf import (
    DEFAULTS,
    MONOLITH,
    OwnershipConfigurationError,
    ownership_settings,
    this_side,
)

ROUTER = "strangler.ownership.router.ControlDatabaseRouter"


@register()
def check_ownership_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    configured = getattr(settings, "STRANGLER_OWNERSHIP", {}) or {}
    errors = [
        Error(
            f"Unknown STRANGLER_OWNERSHIP setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="ownership.E001",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    try:
        conf = ownership_settings()
    except (OwnershipConfigurationError, TypeError, ValueError) as exc:
        return [*errors, Error(str(exc), id="ownership.E002")]
    if conf.database not in settings.DATABASES:
        errors.append(
            Error(
                f"STRANGLER_OWNERSHIP['DATABASE']={conf.database!r} is not in DATABASES.",
                hint="Add the shared control database, e.g. DATABASES['control'] from "
                "STRANGLER_CONTROL_DATABASE_URL.",
                id="ownership.E003",
            )
        )
    if ROUTER not in getattr(settings, "DATABASE_ROUTERS", []):
        errors.append(
            Error(
                f"{ROUTER} is not in DATABASE_ROUTERS.",
                hint="Without it ownership rows would be read from this side's own database, "
                "which the other side cannot see.",
                id="ownership.E004",
            )
        )
    for spec in conf.contexts.values():
        if spec.default_writer not in spec.sides:
            errors.append(
                Error(
                    f"context {spec.name!r}: default_writer {spec.default_writer!r} is neither "
                    f"'monolith' nor {spec.service!r}.",
                    id="ownership.E005",
                )
            )
    side = this_side()
    if conf.contexts and not any(side in spec.sides for spec in conf.contexts.values()):
        services = ", ".join(sorted({spec.service for spec in conf.contexts.values()}))
        errors.append(
            Error(
                f"STRANGLER_SERVICE_NAME {side!r} is no side of any context in "
                "STRANGLER_OWNERSHIP['CONTEXTS']: every write here would be refused.",
                hint=f"The monolith runs as {MONOLITH!r}; a service as the 'service' its "
                f"context names ({services}).",
                id="ownership.E006",
            )
        )
    return errors
