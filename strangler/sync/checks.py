"""System checks for STRANGLER_SYNC: misspelt keys, bad aggregates, an unset token."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from strangler.sync.conf import DEFAULTS, POSITIVE_INTS, SyncConfigurationError, sync_settings


@register()
def check_sync_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    configured = getattr(settings, "STRANGLER_SYNC", {}) or {}
    if not isinstance(configured, dict):
        return [Error("STRANGLER_SYNC must be a dict.", id="sync.E001")]
    errors: list[Error | Warning] = [
        Error(
            f"Unknown STRANGLER_SYNC setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="sync.E002",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    for key in POSITIVE_INTS:
        value = configured.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(
                Error(f"STRANGLER_SYNC[{key!r}] must be a positive integer.", id="sync.E003")
            )
    fanout = configured.get("RECONCILE_FANOUT", DEFAULTS["RECONCILE_FANOUT"])
    if isinstance(fanout, bool) or not isinstance(fanout, int) or fanout < 2:
        errors.append(
            Error("STRANGLER_SYNC['RECONCILE_FANOUT'] must be 2 or more.", id="sync.E003")
        )
    if errors:
        return errors
    try:
        conf = sync_settings()
        for spec in conf.aggregates:
            model = spec.model
            names = {f.attname for f in model._meta.concrete_fields}
            missing = [column for _, column in spec.columns if column not in names]
            if missing:
                errors.append(
                    Error(
                        f"STRANGLER_SYNC aggregate {spec.label}: {spec.model_label} has no "
                        f"column(s) {', '.join(missing)}.",
                        hint="Map payload fields to model attributes with 'columns'.",
                        id="sync.E005",
                    )
                )
    except SyncConfigurationError as exc:
        return [Error(str(exc), id="sync.E004")]
    if settings.DEBUG or not conf.aggregates:
        return errors
    if not conf.internal_token and not conf.internal_credentials:
        errors.append(
            Warning(
                "STRANGLER_INTERNAL_CREDENTIALS is not set: /internal/ refuses every request.",
                hint="List each caller of this side (the other side's STRANGLER_SERVICE_NAME) "
                "with its own key, to let reconcile and cutover run.",
                id="sync.W001",
            )
        )
    elif conf.internal_token:
        errors.append(
            Warning(
                "STRANGLER_INTERNAL_TOKEN is set: every caller of /internal/ shares one secret.",
                hint="Give each caller its own key: STRANGLER_INTERNAL_CREDENTIALS here, "
                "STRANGLER_INTERNAL_KEY on the caller; then unset STRANGLER_INTERNAL_TOKEN.",
                id="sync.W002",
            )
        )
    return errors
