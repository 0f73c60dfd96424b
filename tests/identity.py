"""Tests authenticate like clients do: a bearer token signed with the test session's key pair."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from strangler.identity.keys import generate_key_pair, write_key_pair

# The tutorial's demo users (monolith.common.seeding.DEMO_USERS).
STAFF = ("staff", "staff-demo-password")
ADA = ("ada", "ada-demo-password")
BEN = ("ben", "ben-demo-password")


def make_identity_keys(folder: Path) -> dict[str, str]:
    """A key pair under `folder`; returns the environment every side of a stack reads it from."""
    signing = Path(folder) / "signing.pem"
    public = write_key_pair(signing, generate_key_pair())
    return {
        "STRANGLER_IDENTITY_SIGNING_KEY": str(signing),
        "STRANGLER_IDENTITY_VERIFYING_KEYS": str(public.parent),
    }


def use_identity_environment(env: dict[str, str]) -> None:
    """Processes started from now on (and settings read from now on) use these keys."""
    os.environ.update(env)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(base_url: str, credentials: tuple[str, str], **client: Any) -> str:
    """A token from the monolith's POST /api/auth/token/ (directly or through the gateway)."""
    username, password = credentials
    response = httpx.post(
        f"{base_url.rstrip('/')}/api/auth/token/",
        json={"username": username, "password": password},
        timeout=30,
        **client,
    )
    response.raise_for_status()
    return response.json()["access"]


def token_of(user: Any) -> str:
    """A token for a Django user, signed in this process (the monolith's settings)."""
    from strangler.identity.tokens import issue_token_for_user

    return issue_token_for_user(user)


def staff_token(*, apps: tuple[str, ...] = ("catalog", "inventory", "customers", "orders")) -> str:
    """A token of a staff member with every model permission of `apps`, made without a user row
    (for a service's tests: the service has no user table)."""
    from strangler.identity.tokens import issue_token

    perms = [
        f"{app}.{action}_{model}"
        for app, models in {
            "catalog": ("category", "product"),
            "inventory": ("stockitem", "stockadjustment", "reservation"),
            "customers": ("customer", "address"),
            "orders": ("order", "orderline"),
        }.items()
        if app in apps
        for model in models
        for action in ("add", "change", "delete", "view")
    ]
    return issue_token(
        user_id=1, username="staff", is_staff=True, is_superuser=False, permissions=perms
    )
