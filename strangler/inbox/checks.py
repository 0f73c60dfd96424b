"""System checks for STRANGLER_INBOX: misspelt, missing or out-of-range settings fail loudly."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from strangler.inbox.conf import (
    DEFAULTS,
    POSITIVE_INTS,
    POSITIVE_NUMBERS,
    InboxConfigurationError,
    inbox_settings,
)


@register()
def check_inbox_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    configured = getattr(settings, "STRANGLER_INBOX", None)
    if configured is None:
        return [
            Error(
                "STRANGLER_INBOX is not set.",
                hint="Set SUBSCRIBER, QUEUE, BINDING_KEYS and HANDLERS for this service's inbox.",
                id="inbox.E001",
            )
        ]
    if not isinstance(configured, dict):
        return [Error("STRANGLER_INBOX must be a dict.", id="inbox.E001")]
    errors = [
        Error(
            f"Unknown STRANGLER_INBOX setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="inbox.E002",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    for key in POSITIVE_INTS:
        value = configured.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(
                Error(f"STRANGLER_INBOX[{key!r}] must be a positive integer.", id="inbox.E003")
            )
    for key in POSITIVE_NUMBERS:
        value = configured.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(
                Error(f"STRANGLER_INBOX[{key!r}] must be a positive number.", id="inbox.E003")
            )
    keys = configured.get("BINDING_KEYS", DEFAULTS["BINDING_KEYS"])
    if not isinstance(keys, list | tuple) or not keys:
        errors.append(
            Error(
                "STRANGLER_INBOX['BINDING_KEYS'] must be a non-empty list of topic patterns.",
                hint="For example ['catalog.#'].",
                id="inbox.E004",
            )
        )
    if errors:
        return errors
    conf = inbox_settings()
    if not conf.subscriber:
        errors.append(
            Error(
                "The inbox has no subscriber name.",
                hint="Set STRANGLER_INBOX['SUBSCRIBER'] or STRANGLER_SERVICE_NAME.",
                id="inbox.E005",
            )
        )
    if conf.prefetch < conf.batch_size:
        errors.append(
            Error(
                "STRANGLER_INBOX['PREFETCH'] is smaller than BATCH_SIZE: batches never fill.",
                hint="Make PREFETCH at least BATCH_SIZE (twice is a good start).",
                id="inbox.E006",
            )
        )
    try:
        conf.handlers()
    except InboxConfigurationError as exc:
        errors.append(Error(str(exc), id="inbox.E007"))
    return errors
