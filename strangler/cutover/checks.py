"""System checks of strangler.cutover: misspelt or non-positive settings fail loudly."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from strangler.cutover.conf import DEFAULTS


@register()
def check_cutover_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    configured = getattr(settings, "STRANGLER_CUTOVER", {}) or {}
    errors = [
        Error(
            f"Unknown STRANGLER_CUTOVER setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="cutover.E001",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    for key in DEFAULTS:
        value = configured.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(
                Error(f"STRANGLER_CUTOVER[{key!r}] must be a positive number.", id="cutover.E002")
            )
    return errors
