"""Twelve-factor settings read from the environment, shared by the monolith and every service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def var_dir_from_env(base_dir: Path) -> Path:
    """STRANGLER_VAR_DIR, defaulting to BASE_DIR/var: the embedded databases and broker files."""
    raw = os.environ.get("STRANGLER_VAR_DIR")
    return Path(raw) if raw else Path(base_dir) / "var"


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean variable; anything but a known spelling is an error, not a silent False."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use one of true/false/1/0.")


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list variable."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from exc


def database_from_env(name: str, sqlite_path: Path) -> dict[str, Any]:
    """A DATABASES entry from a URL variable, defaulting to the SQLite file `sqlite_path`."""
    url = os.environ.get(name)
    if not url:
        sqlite_path = Path(sqlite_path)
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{sqlite_path}"
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the relay and consumers read while the web process writes. IMMEDIATE takes the
        # write lock at BEGIN: a deferred transaction that reads, then writes while another
        # process writes fails at once with "database is locked" instead of waiting `timeout`.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
        config["CONN_MAX_AGE"] = 0
    return config


def broker_url_from_env() -> str:
    """BROKER_URL, defaulting to kombu's filesystem transport: no server, files in the var dir."""
    return os.environ.get("BROKER_URL") or "filesystem://"


def secret_key_from_env(debug: bool) -> str:
    """SECRET_KEY; a development default exists only when DEBUG is on."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if debug:
        return "django-insecure-development-only-key-do-not-use-in-production"
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")


def transport_from_env() -> dict[str, Any]:
    """STRANGLER_TRANSPORT overrides from the environment (a unique exchange per test or stack).

    STRANGLER_BROKER_URL is this process's own broker URL for events (its side's broker user,
    made by `setup_broker --users`); unset, BROKER_URL serves. STRANGLER_EXCHANGE is the prefix
    of the events exchanges; STRANGLER_BROKER_FOLDER the embedded transport's folder. Unset
    variables leave strangler.transport's defaults in place.
    """
    overrides: dict[str, Any] = {}
    if os.environ.get("STRANGLER_BROKER_URL"):
        overrides["URL"] = os.environ["STRANGLER_BROKER_URL"]
    if os.environ.get("STRANGLER_EXCHANGE"):
        overrides["EXCHANGE"] = os.environ["STRANGLER_EXCHANGE"]
    if os.environ.get("STRANGLER_BROKER_FOLDER"):
        overrides["DATA_FOLDER"] = os.environ["STRANGLER_BROKER_FOLDER"]
    return overrides
