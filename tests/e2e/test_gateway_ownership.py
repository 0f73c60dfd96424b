"""The gateway sends a context's writes to its single writer, read from a real control database."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.e2e.cutover_stack import fresh_postgres_databases
from tests.processes import (
    PYTHON,
    ROOT,
    ProcessGroup,
    base_env,
    free_port,
    process_group,
    wait_until,
)

pytestmark = pytest.mark.e2e

# Reads of /api/catalog/ are shadowed (the monolith answers), reads of /api/svc/ go to the
# service: either way writes must follow the writer, not the mode.
ROUTES = """
backends:
  monolith: ["http://127.0.0.1:{monolith}"]
  catalog: ["http://127.0.0.1:{catalog}"]
routes:
  - {{name: catalog, prefix: /api/catalog/, mode: shadow, service: catalog, context: catalog}}
  - {{name: svc, prefix: /api/svc/, mode: service, service: catalog, context: catalog}}
"""
# No hold across a freeze: these tests look at the answers the gateway gives at once.
OPTIONS = {
    "HEALTH_INTERVAL": 0.3,
    "RELOAD_INTERVAL": 0.3,
    "CONNECT_TIMEOUT": 0.5,
    "FREEZE_HOLD_SECONDS": 0,
}
FLIP_DEADLINE = 5.0  # OWNERSHIP_REFRESH is 0.5 s; anything near this deadline is a bug


@dataclass
class Stack:
    gateway_port: int
    env: dict[str, str]
    routes: Path
    ports: dict[str, int]
    group: ProcessGroup

    def start_gateway(self, name: str) -> int:
        port = free_port()
        argv = [PYTHON, "manage.py", "rungateway", "--port", str(port)]
        argv += ["--routes", str(self.routes), "--no-shadow-store"]
        self.group.start_http(name, argv, self.env, f"http://127.0.0.1:{port}/healthz")
        return port

    def request(
        self, method: str, path: str, body: bytes | None = None, *, port: int | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port or self.gateway_port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            conn.close()

    def served_by(self, method: str, path: str, *, port: int | None = None) -> str:
        body_out = b"{}" if method != "GET" else None
        status, headers, body = self.request(method, path, body_out, port=port)
        assert status == 200, (method, path, status, body)
        return headers["x-served-by"]

    def ownership(self, statement: str) -> None:
        """Run strangler.ownership's services in a process of their own, as an operator would."""
        code = f"from strangler.ownership.services import *; {statement}"
        subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def metric(self, name: str) -> float:
        _, _, body = self.request("GET", "/metrics")
        found = re.search(rf"^{re.escape(name)} (\S+)$", body.decode(), re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def gateway_log(self, name: str = "gateway") -> str:
        return next(p for p in self.group.processes if p.name == name).log()


def flip_and_time(stack: Stack, statement: str, path: str, backend: str) -> float:
    """Seconds from the ownership change's commit until POSTs to `path` reach `backend`."""
    stack.ownership(statement)
    committed = time.monotonic()
    wait_until(
        lambda: stack.served_by("POST", path) == backend,
        timeout=FLIP_DEADLINE,
        interval=0.02,
        what=f"POST {path} served by {backend}",
    )
    return time.monotonic() - committed


@contextlib.contextmanager
def running_stack(tmp: Path, control_url: str) -> Iterator[Stack]:
    """Two backends and the gateway in front of them, with a migrated control database."""
    env = base_env(
        DATABASE_URL=f"sqlite:///{tmp / 'gateway.sqlite3'}",
        STRANGLER_CONTROL_DATABASE_URL=control_url,
        STRANGLER_GATEWAY_OPTIONS=json.dumps(OPTIONS),
    )
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--database", "control", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    ports = {"monolith": free_port(), "catalog": free_port()}
    routes = tmp / "routes.yaml"
    routes.write_text(ROUTES.format(**ports))
    with process_group(tmp) as group:
        for name in ("monolith", "catalog"):
            backend = ["tests.e2e.gateway_backend", "--port", str(ports[name]), "--name", name]
            group.start_http(
                name,
                [PYTHON, "-m", *backend],
                base_env(),
                f"http://127.0.0.1:{ports[name]}/readyz",
            )
        stack = Stack(0, env, routes, ports, group)
        stack.gateway_port = stack.start_gateway("gateway")
        yield stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("gateway-ownership")
    with running_stack(tmp, f"sqlite:///{tmp / 'control.sqlite3'}") as stack:
        yield stack


def test_writes_follow_the_writer_and_reads_follow_the_mode(stack: Stack) -> None:
    # Nothing recorded yet: the monolith writes (the configured default).
    assert stack.served_by("POST", "/api/catalog/products/") == "monolith"
    assert stack.served_by("DELETE", "/api/svc/products/1/") == "monolith"
    assert stack.served_by("GET", "/api/svc/products/") == "catalog"
    assert stack.metric('gateway_context_writer{context="catalog",writer="monolith"}') == 1

    seconds = flip_and_time(
        stack, "set_writer('catalog', 'service')", "/api/catalog/products/", "catalog"
    )
    print(f"writes moved to the service {seconds:.2f}s after the flip committed")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert stack.served_by(method, "/api/catalog/products/1/") == "catalog"
        assert stack.served_by(method, "/api/svc/products/1/") == "catalog"
    assert stack.served_by("GET", "/api/catalog/products/") == "monolith"  # still shadowed
    assert stack.served_by("GET", "/api/svc/products/") == "catalog"
    assert stack.metric('gateway_context_writer{context="catalog",writer="catalog-service"}') == 1
    assert stack.metric('gateway_context_writer{context="catalog",writer="monolith"}') == 0

    seconds = flip_and_time(
        stack, "set_writer('catalog', 'monolith')", "/api/svc/products/", "monolith"
    )
    print(f"writes moved back to the monolith {seconds:.2f}s after the flip committed")
    assert stack.served_by("GET", "/api/svc/products/") == "catalog"


def backend_posts(stack: Stack) -> int:
    """POSTs that reached either backend so far (from their own request logs)."""
    total = 0
    for name in ("monolith", "catalog"):
        _, _, body = stack.request("GET", "/_log", port=stack.ports[name])
        total += sum(1 for entry in json.loads(body) if entry["method"] == "POST")
    return total


def test_a_frozen_context_is_answered_503_with_retry_after_at_the_gateway(stack: Stack) -> None:
    stack.ownership("freeze_writes('catalog', reason='e2e cutover')")
    frozen_before = stack.metric('gateway_writes_frozen_total{context="catalog"}')
    wait_until(
        lambda: stack.request("POST", "/api/catalog/products/", b"{}")[0] == 503,
        timeout=FLIP_DEADLINE,
        interval=0.02,
        what="frozen POSTs answered 503",
    )
    posts = backend_posts(stack)
    status, headers, body = stack.request("POST", "/api/svc/products/", b"{}")
    assert status == 503 and headers["retry-after"] == "2"  # STRANGLER_OWNERSHIP['RETRY_AFTER']
    error = json.loads(body)["error"]
    assert error["code"] == "writes_frozen" and "e2e cutover" in error["message"]
    assert backend_posts(stack) == posts  # answered at the edge: no backend saw it
    assert stack.served_by("GET", "/api/catalog/products/") == "monolith"  # reads go on
    assert stack.metric('gateway_writes_frozen_total{context="catalog"}') >= frozen_before + 2
    assert stack.metric('gateway_context_frozen{context="catalog"}') == 1

    stack.ownership("unfreeze_writes('catalog')")
    wait_until(
        lambda: stack.request("POST", "/api/catalog/products/", b"{}")[0] == 200,
        timeout=FLIP_DEADLINE,
        interval=0.02,
        what="POSTs open again",
    )


def test_an_unreachable_control_database_keeps_the_last_known_writer(
    tmp_path: Path, postgres_url: str
) -> None:
    # PostgreSQL, because refusing connections to one database is real and reversible there.
    with fresh_postgres_databases(postgres_url, "gwctl") as (control_url,):
        name = control_url.rsplit("/", 1)[1]

        def allow_connections(allowed: bool) -> None:
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
                if not allowed:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                        (name,),
                    )

        with running_stack(tmp_path, control_url) as stack:
            flip_and_time(
                stack, "set_writer('catalog', 'service')", "/api/catalog/products/", "catalog"
            )
            errors = 'gateway_ownership_read_errors_total{context="catalog"}'
            try:
                allow_connections(False)
                wait_until(
                    lambda: stack.metric(errors) >= 3,
                    timeout=FLIP_DEADLINE,
                    what="failed reads of the control database",
                )
                assert "keeping the last known writer catalog-service" in stack.gateway_log()
                assert stack.served_by("POST", "/api/catalog/products/") == "catalog"
                # A gateway that starts now has nothing to keep: the default writer, said so.
                port = stack.start_gateway("late-gateway")
                assert "configured default writer monolith" in stack.gateway_log("late-gateway")
                assert stack.served_by("POST", "/api/catalog/products/", port=port) == "monolith"
            finally:
                allow_connections(True)
            wait_until(
                lambda: "ownership of catalog readable again" in stack.gateway_log("late-gateway"),
                timeout=FLIP_DEADLINE,
                what="the late gateway reading the control database",
            )
            assert stack.served_by("POST", "/api/catalog/products/", port=port) == "catalog"
            # Each gateway reads on its own clock: the first may come round a pass later.
            wait_until(
                lambda: "ownership of catalog readable again" in stack.gateway_log(),
                timeout=FLIP_DEADLINE,
                what="the first gateway reading the control database",
            )
            flip_and_time(
                stack, "set_writer('catalog', 'monolith')", "/api/catalog/products/", "monolith"
            )
