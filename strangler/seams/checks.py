"""System checks for STRANGLER_SEAMS: misspelt keys, unknown apps and bad weights fail loudly."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, register

from strangler.seams.conf import DEFAULT_WEIGHTS, DEFAULTS
from strangler.seams.discovery import unknown_names


@register()
def check_seams_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    configured = getattr(settings, "STRANGLER_SEAMS", {})
    if not isinstance(configured, dict):
        return [Error("STRANGLER_SEAMS must be a dict.", id="seams.E001")]
    errors = [
        Error(
            f"Unknown STRANGLER_SEAMS setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="seams.E002",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    configs = list(apps.get_app_configs())
    labels = {config.label for config in configs}
    named = list(configured.get("APPS") or []) + list(configured.get("IGNORE") or [])
    unknown = [label for label in named if label not in labels]
    unknown += unknown_names(configs, list(configured.get("INCLUDE") or []))
    for label in unknown:
        errors.append(
            Error(
                f"STRANGLER_SEAMS names app {label!r}, which is not installed.",
                hint=f"Installed app labels: {', '.join(sorted(labels))}.",
                id="seams.E003",
            )
        )
    for kind, weight in dict(configured.get("WEIGHTS") or {}).items():
        if kind not in DEFAULT_WEIGHTS:
            errors.append(
                Error(
                    f"STRANGLER_SEAMS['WEIGHTS'] has unknown edge kind {kind!r}.",
                    hint=f"Edge kinds: {', '.join(DEFAULT_WEIGHTS)}.",
                    id="seams.E004",
                )
            )
        elif not isinstance(weight, int) or weight < 0:
            errors.append(
                Error(
                    f"STRANGLER_SEAMS['WEIGHTS'][{kind!r}] must be a non-negative integer.",
                    id="seams.E005",
                )
            )
    return errors
