"""System checks for STRANGLER_OUTBOX: misspelt or out-of-range settings fail loudly."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from strangler.outbox.bypass import MODES
from strangler.outbox.conf import DEFAULTS


@register()
def check_outbox_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    configured = getattr(settings, "STRANGLER_OUTBOX", {})
    errors = []
    if not isinstance(configured, dict):
        return [Error("STRANGLER_OUTBOX must be a dict.", id="outbox.E001")]
    for key in sorted(set(configured) - set(DEFAULTS)):
        errors.append(
            Error(
                f"Unknown STRANGLER_OUTBOX setting {key!r}.",
                hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
                id="outbox.E002",
            )
        )
    for key in ("PARTITIONS", "BATCH_SIZE", "RETENTION_DAYS", "CLAIM_PARTITIONS"):
        value = configured.get(key, DEFAULTS[key])
        if not isinstance(value, int) or value < 1:
            errors.append(
                Error(f"STRANGLER_OUTBOX[{key!r}] must be a positive integer.", id="outbox.E003")
            )
    for key in ("SWEEP_INTERVAL", "RETRY_BASE", "RETRY_MAX", "RECONNECT_MAX"):
        value = configured.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(
                Error(f"STRANGLER_OUTBOX[{key!r}] must be a positive number.", id="outbox.E005")
            )
    guard = configured.get("BYPASS_GUARD", DEFAULTS["BYPASS_GUARD"])
    if guard not in MODES:
        errors.append(
            Error(
                f"STRANGLER_OUTBOX['BYPASS_GUARD'] is {guard!r}.",
                hint=f"Use one of: {', '.join(repr(mode) for mode in MODES)}.",
                id="outbox.E006",
            )
        )
    if not getattr(settings, "STRANGLER_SERVICE_NAME", ""):
        errors.append(
            Error(
                "STRANGLER_SERVICE_NAME is not set.",
                hint="Name this service; it becomes the CloudEvents source of its events.",
                id="outbox.E004",
            )
        )
    return errors
