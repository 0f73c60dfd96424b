"""DRF authentication by a signed bearer token, with a user that needs no user table."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from strangler.identity.tokens import InvalidToken, TokenIdentity, verify_token

KEYWORD = b"bearer"


class TokenUser:
    """The user a token speaks for, built from its claims alone (no database row).

    It answers what DRF's permissions ask (`is_authenticated`, `is_staff`, `has_perms`), so
    `DjangoModelPermissions` works on a service that has no user table.
    """

    is_active = True
    is_authenticated = True
    is_anonymous = False

    def __init__(self, identity: TokenIdentity) -> None:
        self.identity = identity
        self.id = self.pk = identity.user_id
        self.username = identity.username
        self.is_staff = identity.is_staff
        self.is_superuser = identity.is_superuser

    def __str__(self) -> str:
        return self.username

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenUser) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def get_username(self) -> str:
        return self.username

    def get_all_permissions(self, obj: Any = None) -> set[str]:
        return set(self.identity.permissions)

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return self.is_superuser or perm in self.identity.permissions

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_superuser or any(
            perm.startswith(f"{app_label}.") for perm in self.identity.permissions
        )


class SignedTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` signed by the issuer (strangler.identity.tokens).

    No header: not this class's business (None). A bearer token that fails verification: 401 with
    the reason. Listed first in DEFAULT_AUTHENTICATION_CLASSES, it makes an anonymous write a 401
    with `WWW-Authenticate: Bearer` on every side alike.
    """

    def authenticate(self, request: Request) -> tuple[TokenUser, str] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization: Bearer needs one token.")
        try:
            token = parts[1].decode("ascii")
            identity = verify_token(token)
        except (UnicodeDecodeError, InvalidToken) as exc:
            raise exceptions.AuthenticationFailed(f"Invalid bearer token: {exc}") from exc
        return TokenUser(identity), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class SignedTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes SignedTokenAuthentication: HTTP bearer, a JWT."""

    target_class = SignedTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
