"""Fixtures of the seams tests: a service generated once per session by `extract_context`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, base_env
from tests.servers import POSTGRES_URL


def extract(
    app: str, out: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the monolith's `manage.py extract_context` in its own process, as a user would."""
    argv = [sys.executable, "manage.py", "extract_context", app, "--to", str(out), *extra]
    return subprocess.run(
        argv, cwd=ROOT, env=base_env(**(env or {})), capture_output=True, text=True, timeout=300
    )


def service_env(name: str, folder: Path) -> dict[str, str]:
    """Environment of a generated service: its own database (PostgreSQL when the run uses it)."""
    env = base_env()
    env.pop("DATABASE_URL", None)
    monolith_url = os.environ.get("DATABASE_URL", "")
    if monolith_url.startswith("postgres"):
        base = monolith_url.rsplit("/", 1)[0]
        env[f"{name.upper()}_DATABASE_URL"] = f"{base}/strangler_seams_{uuid.uuid4().hex[:8]}"
    else:
        env[f"{name.upper()}_DATABASE_URL"] = f"sqlite:///{folder / f'{name}.sqlite3'}"
    env["STRANGLER_VAR_DIR"] = str(folder / "var")
    env["PYTHONPATH"] = str(contracts_only_path(folder))
    return env


def contracts_only_path(folder: Path) -> Path:
    """A folder that makes the shop's contract package importable and nothing else of the shop,
    as a team's own contract package would be installed beside the kit."""
    path = folder / "contracts-path"
    link = path / "shared_contracts"
    if not link.exists():
        path.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT / "shared_contracts", target_is_directory=True)
    return path


@pytest.fixture(scope="session")
def customers_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The customers context extracted into a temporary folder (generated once)."""
    out = tmp_path_factory.mktemp("extracted") / "customers"
    result = extract("customers", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture
def e2e_databases(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(monolith URL, service URL): new PostgreSQL databases when the run uses PostgreSQL,
    else SQLite files in the test's folder. Dropped afterwards."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        yield (
            f"sqlite:///{tmp_path / 'monolith.sqlite3'}",
            f"sqlite:///{tmp_path / 'svc.sqlite3'}",
        )
        return
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    names = [f"strangler_seams_monolith_{suffix}", f"strangler_seams_customers_{suffix}"]
    base = POSTGRES_URL.rsplit("/", 1)[0]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (f"{base}/{names[0]}", f"{base}/{names[1]}")
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
