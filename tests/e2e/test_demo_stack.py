"""`make run` on a clean clone: the whole demo stack comes up embedded, syncs, and stops on Ctrl-C.

The test runs the two commands of the Makefile's `run` target in a fresh var folder, on free
ports, with every database and broker variable removed: the point is the embedded default (SQLite
per database, the filesystem transport), which must work with no server installed, also in CI
where DATABASE_URL and BROKER_URL point at PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.identity import STAFF, bearer, token_for
from tests.processes import PYTHON, ROOT, base_env, free_port, wait_until

pytestmark = pytest.mark.e2e

# What selects a server instead of the embedded default, or renames what the stack declares.
SERVER_VARIABLES = (
    "DATABASE_URL",
    "CATALOG_DATABASE_URL",
    "INVENTORY_DATABASE_URL",
    "STRANGLER_CONTROL_DATABASE_URL",
    "BROKER_URL",
    "STRANGLER_EXCHANGE",
    "STRANGLER_BROKER_FOLDER",
    "CATALOG_INBOX_QUEUE",
    "MONOLITH_INBOX_QUEUE",
    "CATALOG_SERVICE_URL",
    "MONOLITH_URL",
    "DEMO_BACKFILL",
    # The test session's token keys: the demo makes its own under var/identity/, as on a clone.
    "STRANGLER_IDENTITY_SIGNING_KEY",
    "STRANGLER_IDENTITY_VERIFYING_KEYS",
)
PROCESSES = {
    "gateway",
    "monolith",
    "monolith-relay",
    "catalog",
    "catalog-consumer",
    "catalog-relay",
    "inventory",
    "inventory-consumer",
    "inventory-relay",
    "monolith-consumer",
}


@dataclass
class DemoStack:
    env: dict[str, str]
    var_dir: Path
    log_path: Path
    popen: subprocess.Popen[bytes]
    gateway: str
    monolith: str
    catalog: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def child_pids(self) -> dict[str, int]:
        found = re.findall(r"^stack\s+\| started (\S+) \(pid (\d+)\)", self.log(), re.MULTILINE)
        return {name: int(pid) for name, pid in found}


def prepare(env: dict[str, str], log_dir: Path, name: str) -> tuple[str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [PYTHON, "deploy/demo.py", "prepare"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (log_dir / f"{name}.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, time.monotonic() - started


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie no one reaped is gone for every purpose that matters here.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.fixture
def demo_stack(tmp_path: Path) -> Iterator[DemoStack]:
    env = base_env(
        STRANGLER_VAR_DIR=str(tmp_path / "var"),
        DEMO_GATEWAY_PORT=str(free_port()),
        DEMO_MONOLITH_PORT=str(free_port()),
        DEMO_CATALOG_PORT=str(free_port()),
        DEMO_INVENTORY_PORT=str(free_port()),
    )
    for name in SERVER_VARIABLES:
        env.pop(name, None)
    first, _ = prepare(env, tmp_path, "prepare-1")
    assert "catalog backfilled" in first
    log_path = tmp_path / "stack.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [PYTHON, "deploy/stack.py", "--announce", str(tmp_path / "var" / "demo-stack.json")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = DemoStack(
        env=env,
        var_dir=tmp_path / "var",
        log_path=log_path,
        popen=popen,
        gateway=f"http://127.0.0.1:{env['DEMO_GATEWAY_PORT']}",
        monolith=f"http://127.0.0.1:{env['DEMO_MONOLITH_PORT']}",
        catalog=f"http://127.0.0.1:{env['DEMO_CATALOG_PORT']}",
    )
    try:
        yield stack
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(10)
        for pid in stack.child_pids().values():
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)


def count(url: str) -> int:
    return httpx.get(f"{url}/api/catalog/products/?page_size=1", timeout=10).json()["count"]


def test_make_run_brings_up_a_synced_stack_and_ctrl_c_stops_every_process(
    demo_stack: DemoStack, tmp_path: Path
) -> None:
    stack = demo_stack
    makefile = (ROOT / "Makefile").read_text()
    assert "$(PY) deploy/demo.py prepare" in makefile, "the test runs what `make run` runs"
    assert "$(PY) deploy/stack.py --announce" in makefile

    def ready() -> bool:
        if stack.popen.poll() is not None:
            raise AssertionError(f"the stack exited:\n{stack.log()[-4000:]}")
        return "| ready in" in stack.log()

    wait_until(ready, timeout=120, interval=0.2, what="the stack to say it is ready")
    assert set(stack.child_pids()) == PROCESSES
    log = stack.log()
    for line in (f"{stack.gateway}/api/catalog/products/", f"{stack.monolith}/admin/"):
        assert line in log, f"the stack does not print {line}"

    # The seeded catalog reaches the service through the backfill, relay and consumer.
    seeded = count(stack.monolith)
    assert seeded >= 200
    wait_until(lambda: count(stack.catalog) == seeded, timeout=120, what="the backfill to land")

    # An anonymous write is refused; the seeded staff user logs in through the front door (the
    # monolith issues the token) and creates a product that appears in the extracted service.
    body = {
        "sku": "GATEWAY-1",
        "name": "Through the gateway",
        "price": "9.99",
        "currency": "EUR",
    }
    anonymous = httpx.post(f"{stack.gateway}/api/catalog/products/", json=body, timeout=10)
    assert anonymous.status_code == 401, anonymous.text
    token = token_for(stack.gateway, STAFF)
    created = httpx.post(
        f"{stack.gateway}/api/catalog/products/", json=body, headers=bearer(token), timeout=10
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]

    def in_service() -> dict[str, object] | None:
        response = httpx.get(f"{stack.catalog}/api/catalog/products/{product_id}/", timeout=10)
        return response.json() if response.status_code == 200 else None

    found = wait_until(in_service, timeout=60, interval=0.2, what="the product in the service")
    assert found["sku"] == "GATEWAY-1" and found["price"] == "9.99"  # type: ignore[index]

    # Ctrl-C: stack.py gets SIGINT (its children run in their own sessions) and stops them all.
    pids = stack.child_pids()
    stack.popen.send_signal(signal.SIGINT)
    assert stack.popen.wait(60) == 0, stack.log()[-4000:]
    assert f"all {len(PROCESSES)} processes stopped" in stack.log()
    still_running = {name: pid for name, pid in pids.items() if pid_alive(pid)}
    assert not still_running, f"left running after Ctrl-C: {still_running}"

    # A second `make run` prepares in seconds and neither seeds nor backfills again.
    second, _seconds = prepare(stack.env, tmp_path, "prepare-2")
    assert "catalog already backfilled" in second
    assert "Inserted 0 categories, 0 products" in second
