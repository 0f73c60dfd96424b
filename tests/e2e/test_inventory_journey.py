"""End to end: the generated inventory service taken through the catalog's journey.

Fill (backfill of a row the outbox never saw), reconcile, shadow reads at the gateway, a canary,
`cutover inventory --to service` (writes follow the writer; the monolith's legacy table follows
the service's events) and the rollback `--to monolith`. Real processes on loopback: both sides'
web servers, relays and consumers (tests/e2e/cutover_stack.py with the INVENTORY context), the
gateway, PostgreSQL databases of their own and RabbitMQ queues of this test only.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.cutover_stack import INVENTORY, CutoverStack, cutover_stack
from tests.processes import PYTHON, ROOT, ProcessGroup, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq]

SERVICE = INVENTORY.service
SHADOWED = "inventory-reads -> monolith"
CANARIED = "inventory-reads -> inventory"
ANSWERED = re.compile(r"^gateway_requests_total\{([^}]*)\} (\S+)$", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')
GATEWAY_OPTIONS = {"HEALTH_INTERVAL": 0.3, "RELOAD_INTERVAL": 0.3, "CONNECT_TIMEOUT": 1.0}


def demo_script() -> ModuleType:
    """deploy/demo.py, whose context_routes make the gateway's routes in every mode."""
    spec = importlib.util.spec_from_file_location("deploy_demo", ROOT / "deploy" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Gateway:
    """The strangler gateway in front of both sides, its routing table in a file of the test."""

    def __init__(self, stack: CutoverStack, processes: ProcessGroup, folder: Path) -> None:
        self.stack = stack
        self.routes = folder / "routes.yaml"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.demo = demo_script()
        self.route("monolith")
        env = {**stack.env, "STRANGLER_GATEWAY_OPTIONS": json.dumps(GATEWAY_OPTIONS)}
        argv = [PYTHON, str(ROOT / "manage.py"), "rungateway", "--port", str(self.port)]
        processes.start_http(
            "gateway", [*argv, "--routes", str(self.routes)], env, f"{self.url}/healthz"
        )
        self.client = httpx.Client(base_url=self.url, timeout=30, headers=stack.staff_headers())

    def route(self, mode: str, percent: float = 0.0) -> None:
        table = {
            "backends": {
                "monolith": [self.stack.urls["monolith"]],
                "inventory": [self.stack.urls[SERVICE]],
            },
            "routes": self.demo.context_routes("inventory", mode, percent),
        }
        self.routes.write_text(yaml.safe_dump(table, sort_keys=False))

    def answered(self) -> dict[str, float]:
        """Requests answered so far per "route -> target" (the gateway's /metrics, loopback)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        totals: dict[str, float] = {}
        for labels, value in ANSWERED.findall(text):
            named = dict(LABEL.findall(labels))
            key = f"{named['route']} -> {named['target']}"
            totals[key] = totals.get(key, 0.0) + float(value)
        return totals

    def served_by(self, method: str, path: str, **kwargs: Any) -> tuple[str, httpx.Response]:
        """Send one request; "route -> target" that answered it (by the gateway's counters)."""
        before = self.answered()
        response = self.client.request(method, path, **kwargs)
        after = self.answered()
        grown = [key for key, n in after.items() if n > before.get(key, 0.0)]
        return (grown[0] if len(grown) == 1 else ""), response


@pytest.fixture
def stack(
    processes: ProcessGroup, postgres_url: str, rabbitmq_url: str, tmp_path: Path
) -> Iterator[CutoverStack]:
    with cutover_stack(
        processes,
        postgres_url=postgres_url,
        rabbitmq_url=rabbitmq_url,
        tmp_path=tmp_path,
        context=INVENTORY,
    ) as stack:
        yield stack


def call(stack: CutoverStack, side: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    url = f"{stack.urls[side]}{path}"
    return httpx.request(method, url, headers=stack.staff_headers(), timeout=30, **kwargs)


def adjust(stack: CutoverStack, side: str, sku: str, delta: int) -> httpx.Response:
    body = {"sku": sku, "delta": delta, "reason": "e2e"}
    return call(stack, side, "POST", "/api/inventory/stock/adjust/", json=body)


def reconcile(stack: CutoverStack) -> dict[str, Any]:
    done = stack.manage("monolith", "reconcile", "inventory", "--json")
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout)


def seed_products(stack: CutoverStack, count: int) -> list[str]:
    skus = []
    for index in range(count):
        sku = f"INV-{index}"
        body = {"sku": sku, "name": f"Item {index}", "price": "3.50", "currency": "EUR"}
        created = call(stack, "monolith", "POST", "/api/catalog/products/", json=body)
        assert created.status_code == 201, created.text
        skus.append(sku)
    return skus


def test_inventory_goes_through_fill_reconcile_shadow_canary_cutover_and_rollback(
    stack: CutoverStack, processes: ProcessGroup, tmp_path: Path
) -> None:
    skus = seed_products(stack, 4)
    for sku in skus[:3]:
        assert adjust(stack, "monolith", sku, 10).status_code == 200
    # Stock counted before the migration: a row the outbox never saw.
    legacy_product = stack.monolith_db.scalar("SELECT id FROM catalog_product WHERE sku = 'INV-3'")
    stack.monolith_db.rows(
        "INSERT INTO inventory_stockitem (product_id, sku, on_hand, reserved, updated_at) "
        "VALUES (%s, 'INV-3', 25, 0, now()) RETURNING id",
        (legacy_product,),
    )
    wait_until(
        lambda: stack.service_db.scalar("SELECT count(*) FROM inventory_stockitem") == 3,
        timeout=60,
        what="the stream to carry the three adjusted items",
    )

    # Reconcile finds the legacy row missing on the service; the fill copies it over.
    drift = reconcile(stack)
    assert drift["equal"] is False
    (aggregate,) = drift["aggregates"]
    assert len(aggregate["missing"]) == 1, aggregate
    filled = stack.manage("monolith", "backfill", "inventory")
    assert filled.returncode == 0, filled.stdout + filled.stderr
    stack.wait_stores_equal()
    assert reconcile(stack)["equal"] is True

    # Shadow: the monolith answers every read, the service's answers are compared.
    gateway = Gateway(stack, processes, tmp_path)
    gateway.route("shadow")
    wait_until(
        lambda: gateway.served_by("GET", "/api/inventory/stock/")[0] == SHADOWED,
        timeout=30,
        what="the shadow route",
    )
    for _ in range(5):
        served, response = gateway.served_by("GET", "/api/inventory/stock/")
        assert (served, response.status_code) == (SHADOWED, 200)

    def shadow_matches() -> dict[str, Any] | None:
        done = stack.manage("monolith", "shadow_report", "--json")
        assert done.returncode == 0, done.stderr
        report = {r["route"]: r for r in json.loads(done.stdout)["routes"]}
        reads = report.get("inventory-reads")
        return reads if reads and reads["requests"] >= 5 else None

    reads = wait_until(shadow_matches, timeout=60, what="five shadow comparisons")
    assert reads["matches"] == reads["requests"], reads  # type: ignore[index]

    # Canary: every client's reads go to the service, which answers what the monolith does.
    gateway.route("canary", 100.0)
    wait_until(
        lambda: gateway.served_by("GET", "/api/inventory/stock/")[0] == CANARIED,
        timeout=30,
        what="the canary to send reads to the service",
    )
    _, through_service = gateway.served_by("GET", "/api/inventory/stock/")
    monolith_answer = call(stack, "monolith", "GET", "/api/inventory/stock/")
    assert through_service.json()["results"] == monolith_answer.json()["results"]

    # Cutover: the service writes inventory, the monolith refuses and follows its events.
    result = stack.cutover("service")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stack.writer() == SERVICE
    assert adjust(stack, "monolith", "INV-0", 1).status_code == 409
    served, response = gateway.served_by(
        "POST", "/api/inventory/stock/adjust/", json={"sku": "INV-0", "delta": 5, "reason": "e2e"}
    )
    assert (served, response.status_code) == ("inventory-writes -> inventory", 200), response.text
    assert response.json()["on_hand"] == 15
    stack.wait_stores_equal()
    assert reconcile(stack)["equal"] is True

    # Rollback: the monolith writes again; the service refuses and follows the monolith.
    result = stack.cutover("monolith")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stack.writer() == "monolith"
    assert adjust(stack, SERVICE, "INV-1", 1).status_code == 409
    served, response = gateway.served_by(
        "POST", "/api/inventory/stock/adjust/", json={"sku": "INV-1", "delta": -4, "reason": "e2e"}
    )
    assert (served, response.status_code) == ("inventory-writes -> monolith", 200), response.text
    stack.wait_stores_equal()
    final = reconcile(stack)
    assert final["equal"] is True, final
    on_hand = dict(stack.service_db.rows("SELECT sku, on_hand FROM inventory_stockitem"))
    assert on_hand == {"INV-0": 15, "INV-1": 6, "INV-2": 10, "INV-3": 25}
