"""System checks of strangler.autopilot: settings and plans that cannot run fail loudly."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from strangler.autopilot.conf import (
    DEFAULTS,
    AutopilotConfigurationError,
    autopilot_settings,
    configured,
)
from strangler.autopilot.plans import PlanError, parse_plans


@register()
def check_autopilot_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    values = configured()
    errors = [
        Error(
            f"Unknown STRANGLER_AUTOPILOT setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="autopilot.E001",
        )
        for key in sorted(set(values) - set(DEFAULTS))
    ]
    for key in ("INTERVAL", "LEASE_SECONDS", "ROLLBACK_TIMEOUT", "PROBE_TIMEOUT"):
        value = values.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(
                Error(
                    f"STRANGLER_AUTOPILOT[{key!r}] must be a positive number.", id="autopilot.E002"
                )
            )
    if errors:
        return errors
    conf = autopilot_settings()
    if conf.lease_seconds <= conf.interval:
        errors.append(
            Error(
                "STRANGLER_AUTOPILOT['LEASE_SECONDS'] must be longer than INTERVAL, or a running "
                "controller loses its run between two evaluations.",
                id="autopilot.E003",
            )
        )
    try:
        plans = parse_plans(conf.raw_plans())
    except (AutopilotConfigurationError, PlanError) as exc:
        return [*errors, Error(str(exc), id="autopilot.E004")]
    from strangler.ownership.conf import OwnershipConfigurationError, ownership_settings

    try:
        known = set(ownership_settings().contexts)
    except OwnershipConfigurationError:
        return errors  # strangler.ownership's own checks say what is wrong
    for context in sorted(set(plans) - known):
        errors.append(
            Error(
                f"STRANGLER_AUTOPILOT plans context {context!r}, which "
                "STRANGLER_OWNERSHIP['CONTEXTS'] does not list.",
                id="autopilot.E005",
            )
        )
    return errors
