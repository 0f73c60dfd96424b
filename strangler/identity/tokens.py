"""Signed access tokens (JWT, EdDSA): issued by the monolith, verified by every side locally.

A token carries what an API needs to decide without a user table: the user's id and name,
`is_staff`, `is_superuser` and the model permissions (`app_label.codename`) the user held when it
was issued. A verifier never calls the issuer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from strangler.identity.conf import identity_settings
from strangler.identity.keys import signing_key, verifying_keys

ALGORITHM = "EdDSA"
TOKEN_TYPE = "JWT"


class InvalidToken(Exception):
    """The token cannot be trusted: the message says why (safe to show the client)."""


@dataclass(frozen=True)
class TokenIdentity:
    """Who a verified token speaks for."""

    user_id: int
    username: str
    is_staff: bool
    is_superuser: bool
    permissions: frozenset[str]
    expires_at: int
    kid: str


def issue_token(
    *,
    user_id: int,
    username: str,
    is_staff: bool,
    is_superuser: bool,
    permissions: Iterable[str],
    now: float | None = None,
) -> str:
    """A signed token for the user, valid STRANGLER_IDENTITY['TOKEN_LIFETIME'] seconds."""
    conf = identity_settings()
    kid, key = signing_key()
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": conf.issuer,
        "aud": conf.audience,
        "sub": str(user_id),
        "iat": issued,
        "nbf": issued,
        "exp": issued + conf.token_lifetime,
        "jti": uuid.uuid4().hex,
        "username": username,
        "is_staff": bool(is_staff),
        "is_superuser": bool(is_superuser),
        "perms": sorted(set(permissions)),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": TOKEN_TYPE})


def issue_token_for_user(user: Any) -> str:
    """A token for a Django user: its id, name, staff flags and every permission it holds."""
    return issue_token(
        user_id=user.pk,
        username=user.get_username(),
        is_staff=user.is_staff,
        is_superuser=user.is_superuser,
        permissions=user.get_all_permissions(),
    )


def verify_token(token: str) -> TokenIdentity:
    """The identity a token speaks for; InvalidToken when it is forged, expired or not for us."""
    conf = identity_settings()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"malformed token: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"tokens are signed with {ALGORITHM}, not {header.get('alg')!r}")
    kid = header.get("kid")
    key = verifying_keys().get(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken(f"unknown signing key {kid!r}")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=conf.audience,
            issuer=conf.issuer,
            leeway=conf.leeway,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    try:
        return TokenIdentity(
            user_id=int(claims["sub"]),
            username=str(claims.get("username", "")),
            is_staff=claims.get("is_staff") is True,
            is_superuser=claims.get("is_superuser") is True,
            permissions=frozenset(str(perm) for perm in claims.get("perms") or ()),
            expires_at=int(claims["exp"]),
            kid=kid,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidToken(f"invalid token claims: {exc}") from exc
