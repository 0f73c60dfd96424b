"""Settings of strangler.identity (STRANGLER_IDENTITY): who issues tokens and which keys verify."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The `iss` claim: the side that signs tokens (the monolith). Tokens of another issuer are
    # refused.
    "ISSUER": "monolith",
    # The `aud` claim: the migration's sides accept only tokens made for them.
    "AUDIENCE": "strangler",
    # The issuer's Ed25519 private key: PEM text or a path to a PEM file. Empty on every side that
    # only verifies. With DEBUG on, a missing file is created on first use (development only).
    "SIGNING_KEY": "",
    # The public keys accepted: PEM texts, paths to PEM files, or folders whose *.pem files are
    # read. List the current key and, during a rotation, the next one; the header's `kid` picks.
    "VERIFYING_KEYS": [],
    # Seconds a token is valid; keep an old public key listed at least this long after rotating.
    "TOKEN_LIFETIME": 3600,
    # Seconds of clock difference tolerated between the issuer and a verifier.
    "LEEWAY": 30,
}


class IdentityConfigurationError(RuntimeError):
    """STRANGLER_IDENTITY cannot be used as configured; the message says what to change."""


@dataclass(frozen=True)
class IdentitySettings:
    issuer: str
    audience: str
    signing_key: str
    verifying_keys: tuple[str, ...]
    token_lifetime: int
    leeway: int


def identity_settings() -> IdentitySettings:
    """STRANGLER_IDENTITY merged over DEFAULTS; IdentityConfigurationError when unusable."""
    configured = getattr(settings, "STRANGLER_IDENTITY", {}) or {}
    if not isinstance(configured, Mapping):
        raise IdentityConfigurationError("STRANGLER_IDENTITY must be a dict.")
    values = {**DEFAULTS, **configured}
    keys = values["VERIFYING_KEYS"]
    if isinstance(keys, str | Path):
        keys = [keys]
    lifetime = int(values["TOKEN_LIFETIME"])
    if lifetime <= 0:
        raise IdentityConfigurationError("STRANGLER_IDENTITY['TOKEN_LIFETIME'] must be > 0.")
    return IdentitySettings(
        issuer=str(values["ISSUER"]),
        audience=str(values["AUDIENCE"]),
        signing_key=str(values["SIGNING_KEY"] or ""),
        verifying_keys=tuple(str(key) for key in keys if str(key)),
        token_lifetime=lifetime,
        leeway=int(values["LEEWAY"]),
    )
