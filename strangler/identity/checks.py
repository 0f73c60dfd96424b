"""System checks of strangler.identity: the settings parse and every side can verify a token."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from strangler.identity.conf import DEFAULTS, IdentityConfigurationError, identity_settings
from strangler.identity.keys import verifying_keys


@register()
def check_identity_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    configured = getattr(settings, "STRANGLER_IDENTITY", {}) or {}
    problems: list[Error | Warning] = [
        Error(
            f"Unknown STRANGLER_IDENTITY setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="identity.E001",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    try:
        conf = identity_settings()
        keys = verifying_keys() if not settings.DEBUG or conf.verifying_keys else {}
    except (IdentityConfigurationError, TypeError, ValueError, OSError) as exc:
        return [*problems, Error(str(exc), id="identity.E002")]
    if not conf.signing_key and not conf.verifying_keys:
        problems.append(
            Warning(
                "STRANGLER_IDENTITY names no key: this side accepts no bearer token.",
                hint="Set VERIFYING_KEYS to the issuer's public key(s) (manage.py identity_keys).",
                id="identity.W001",
            )
        )
    elif not settings.DEBUG and not keys:
        problems.append(
            Error(
                "STRANGLER_IDENTITY['VERIFYING_KEYS'] lists no readable public key.",
                hint="Point it at the issuer's public key file(s) or folder.",
                id="identity.E003",
            )
        )
    return problems
