"""Where the real servers are, and what a test does when one is missing.

On a laptop a missing PostgreSQL or RabbitMQ skips the tests that need it, naming how to start it.
With CI=true a missing server fails the test: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

HOW_TO_START = {
    "RabbitMQ": "start it with `rabbitmq-server -detached` (or set RABBITMQ_URL)",
    "PostgreSQL": (
        "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        " and point DATABASE_URL (monolith) and CATALOG_DATABASE_URL (catalog service) at it,"
        " e.g. postgres://postgres@127.0.0.1:5432/strangler_monolith"
    ),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def server_missing(kind: str, detail: str) -> None:
    """Skip (laptop) or fail (CI) the current test because a server is not there."""
    message = f"needs {kind}: {detail}; {HOW_TO_START[kind]}"
    if in_ci():
        pytest.fail(f"CI=true and the server is missing: {message}", pytrace=False)
    pytest.skip(message)


def port_answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or default_port)
    try:
        with socket.create_connection(address, 2):
            return True
    except OSError:
        return False


def require_tool(binary: str, package: str) -> str:
    """Path of a command-line tool a test drives; skips (laptop) or fails (CI) when missing."""
    sbin = Path("/usr/sbin") / binary
    path = shutil.which(binary) or (str(sbin) if sbin.exists() else None)
    if path is None:
        message = f"needs {binary}: install it with `apt-get install -y {package}` (.ci/run does)"
        if in_ci():
            pytest.fail(f"CI=true and {binary} is missing: {message}", pytrace=False)
        pytest.skip(message)
    return path
