"""End to end: the generated customers service consumes the monolith's events and serves its JSON.

Real processes on loopback: the monolith (runserver) and its outbox relay, the generated service's
consumer and its web server, over the embedded broker in the test's own folder, each with its own
database.
"""

from __future__ import annotations

import json
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.identity import bearer, token_for
from tests.processes import ROOT, ProcessGroup, base_env, free_port, wait_until
from tests.strangler.seams.conftest import service_env

PYTHON = sys.executable


# A staff member's bearer token from the monolith (POST /api/auth/token/); both sides verify it
# with the session's public key (tests/conftest.py, identity_environment).
HEADERS: dict[str, str] = {}


def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=HEADERS)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    import subprocess

    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.e2e
def test_service_consumes_customer_events_and_serves_the_same_json(
    customers_service: Path,
    e2e_databases: tuple[str, str],
    processes: ProcessGroup,
    tmp_path: Path,
) -> None:
    monolith_db, service_db = e2e_databases
    shared = {"BROKER_URL": "filesystem://", "STRANGLER_VAR_DIR": str(tmp_path / "var")}
    monolith_env = base_env(DATABASE_URL=monolith_db, **shared)
    service = service_env("customers", tmp_path)
    service.update(shared, CUSTOMERS_DATABASE_URL=service_db)
    manage = str(customers_service / "manage.py")

    run_once([PYTHON, "manage.py", "migrate", "--no-input"], monolith_env, ROOT)
    control = ["migrate", "--database", "control", "--no-input"]
    run_once([PYTHON, "manage.py", *control], monolith_env, ROOT)
    staff = ("seams-staff", secrets.token_hex(12))
    superuser = ["createsuperuser", "--no-input", "--username", staff[0], "--email", "s@x.test"]
    run_once(
        [PYTHON, "manage.py", *superuser],
        {**monolith_env, "DJANGO_SUPERUSER_PASSWORD": staff[1]},
        ROOT,
    )
    run_once([PYTHON, manage, "migrate", "--no-input"], service, customers_service)
    run_once([PYTHON, manage, "setup_broker"], service, customers_service)

    monolith_port, service_port = free_port(), free_port()
    monolith = f"http://127.0.0.1:{monolith_port}"
    extracted = f"http://127.0.0.1:{service_port}"
    processes.start_http(
        "monolith",
        [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{monolith_port}"],
        monolith_env,
        f"{monolith}/readyz",
    )
    HEADERS.update(bearer(token_for(monolith, staff)))
    processes.start_http(
        "service",
        [PYTHON, manage, "runserver", "--noreload", f"127.0.0.1:{service_port}"],
        service,
        f"{extracted}/readyz",
    )
    processes.start("relay", [PYTHON, "manage.py", "outbox_relay"], monolith_env)
    processes.start("consumer", [PYTHON, manage, "consume_events"], service)

    ada = {
        "email": "Ada@Example.com",
        "name": "Ada Lovelace",
        "addresses": [
            {"line1": "1 Engine St", "city": "London", "postal_code": "N1", "country": "GB"},
            {
                "line1": "2 Loom Rd",
                "city": "Leeds",
                "postal_code": "LS1",
                "country": "GB",
                "is_default": True,
            },
        ],
    }
    status, created = call("POST", f"{monolith}/api/customers/", ada)
    assert status == 201, created
    status, grace = call(
        "POST", f"{monolith}/api/customers/", {"email": "grace@example.com", "name": "Grace"}
    )
    assert status == 201, grace
    status, _ = call("PATCH", f"{monolith}/api/customers/{created['id']}/", {"name": "Ada K."})
    assert status == 200
    status, _ = call("DELETE", f"{monolith}/api/customers/{grace['id']}/")
    assert status == 204

    def same_list() -> bool:
        return call("GET", f"{extracted}/api/customers/") == call(
            "GET", f"{monolith}/api/customers/"
        )

    try:
        wait_until(same_list, timeout=60, what="the service to serve the monolith's list")
    except AssertionError:
        raise AssertionError(processes.logs()) from None

    status, body = call("GET", f"{extracted}/api/customers/{created['id']}/")
    assert status == 200
    assert body == call("GET", f"{monolith}/api/customers/{created['id']}/")[1]
    assert body["name"] == "Ada K."
    assert [a["is_default"] for a in body["addresses"]] == [False, True]
    assert call("GET", f"{extracted}/api/customers/{grace['id']}/")[0] == 404
    for query in ("?country=gb", "?search=ada", "?ordering=-email", "?email=ada@example.com"):
        assert call("GET", f"{extracted}/api/customers/{query}") == call(
            "GET", f"{monolith}/api/customers/{query}"
        ), query

    status, refused = call("POST", f"{extracted}/api/customers/", ada)
    assert status == 409
    assert refused["error"]["code"] == "writes_owned_elsewhere"
