"""End to end: `cutover catalog` between the monolith and the catalog service, all real processes.

PostgreSQL databases of their own for each side and the control database, RabbitMQ with an
exchange and queues of this test only; both sides run web server, relay and consumer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strangler.cutover.runs import CRASH_EXIT_CODE, STEPS
from tests.e2e.cutover_stack import CutoverStack, SteadyWriter, cutover_stack
from tests.processes import ProcessGroup

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq]

SERVICE = "catalog-service"


@pytest.fixture
def stack(
    processes: ProcessGroup, postgres_url: str, rabbitmq_url: str, tmp_path: Path
) -> Iterator[CutoverStack]:
    with cutover_stack(
        processes, postgres_url=postgres_url, rabbitmq_url=rabbitmq_url, tmp_path=tmp_path
    ) as stack:
        yield stack


def assert_cutover_ok(result: Any, to: str) -> None:
    assert result.returncode == 0, f"cutover to {to} failed:\n{result.stdout}\n{result.stderr}"


def post(stack: CutoverStack, side: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{stack.urls[side]}{path}", json=body, headers=stack.staff_headers(), timeout=30
    )


def seed(stack: CutoverStack, count: int) -> list[dict[str, Any]]:
    tools = post(stack, "monolith", "/api/catalog/categories/", {"name": "Tools", "slug": "tools"})
    assert tools.status_code == 201, tools.text
    products = []
    for index in range(count):
        body = {
            "sku": f"SEED-{index}",
            "name": f"Seed {index}",
            "price": f"{index + 1}.10",
            "currency": "EUR",
            "category": tools.json()["id"],
        }
        response = post(stack, "monolith", "/api/catalog/products/", body)
        assert response.status_code == 201, response.text
        products.append(response.json())
    return products


def assert_acknowledged_writes_visible_on_both_sides(
    stack: CutoverStack, writer: SteadyWriter, products: list[Any]
) -> None:
    by_id = {row[0]: row for row in products}
    for key, acked in writer.acked.items():
        row = by_id.get(key)
        assert row is not None, f"acknowledged product {key} is missing"
        assert (row[1], row[4]) == (acked["sku"], acked["price"]), (row, acked)


def test_cutover_under_a_steady_stream_of_writes_loses_no_write_and_collides_no_id(
    stack: CutoverStack,
) -> None:
    seed(stack, 20)
    stack.wait_stores_equal()
    writer = SteadyWriter(stack, prefix="STEADY")
    writer.start()
    try:
        writer.wait_for_writes(40)
        result = stack.cutover("service")
        assert_cutover_ok(result, "service")
        before_flip = writer.writes
        writer.wait_for_writes(before_flip + 40)
    finally:
        writer.stop()
    assert not writer.errors, writer.errors
    for number, step in enumerate(STEPS, start=1):
        assert f"[{number}/{len(STEPS)}] {step}: done" in result.stdout, result.stdout
    assert stack.writer() == SERVICE
    assert writer.redirects == 1 and writer.acked_by_side[SERVICE] >= 40

    products, _ = stack.wait_stores_equal()
    assert_acknowledged_writes_visible_on_both_sides(stack, writer, products)
    ids = [row[0] for row in products]
    assert (
        len(ids)
        == len(set(ids))
        == 20 + len([a for a in writer.acked.values() if a["sku"].startswith("STEADY")])
    )
    skus = [row[1] for row in products]
    assert len(skus) == len(set(skus))

    # The monolith's orders still read the right prices from its legacy tables.
    service_made = max(writer.acked.values(), key=lambda a: a["id"])
    assert service_made["id"] > 20
    customer = post(stack, "monolith", "/api/customers/", {"email": "o@example.com", "name": "O"})
    stock = post(
        stack,
        "monolith",
        "/api/inventory/stock/adjust/",
        {"sku": service_made["sku"], "delta": 5, "reason": "delivery"},
    )
    assert stock.status_code < 300, stock.text
    order = post(
        stack,
        "monolith",
        "/api/orders/",
        {
            "customer": customer.json()["id"],
            "lines": [{"product": service_made["id"], "quantity": 2}],
        },
    )
    assert order.status_code == 201, order.text
    price = float(service_made["price"])
    assert float(order.json()["total"]) == pytest.approx(price * 2)


def test_roll_back_to_the_monolith_then_forward_again_leaves_both_stores_equal(
    stack: CutoverStack,
) -> None:
    seed(stack, 10)
    stack.wait_stores_equal()
    for to, writes_on in (("service", SERVICE), ("monolith", "monolith"), ("service", SERVICE)):
        result = stack.cutover(to, run_on="monolith" if to == "service" else SERVICE)
        assert_cutover_ok(result, to)
        assert stack.writer() == writes_on
        before = stack.wait_stores_equal()
        for index in range(5):
            body = {
                "sku": f"{to}-{writes_on}-{index}-{len(before[0])}",
                "name": "n",
                "price": "2.00",
                "currency": "EUR",
            }
            assert post(stack, writes_on, "/api/catalog/products/", body).status_code == 201
        products, _ = stack.wait_stores_equal()
        assert len(products) == len(before[0]) + 5
    ids = [row[0] for row in products]
    assert len(ids) == len(set(ids)) == 25


def test_a_crash_at_each_step_is_resumed_by_running_the_command_again(stack: CutoverStack) -> None:
    seed(stack, 5)
    target = "service"
    for step in STEPS:
        crashed = stack.cutover(target, crash_at=step)
        assert crashed.returncode == CRASH_EXIT_CODE, (step, crashed.stdout, crashed.stderr)
        assert f"{step}: done" in crashed.stdout
        resumed = stack.cutover(target)
        assert_cutover_ok(resumed, target)
        assert ("resuming cutover run" in resumed.stdout) or step == "unfreeze", resumed.stdout
        expected = SERVICE if target == "service" else "monolith"
        assert stack.writer() == expected
        assert not stack.control.scalar(
            "SELECT frozen FROM strangler_ownership_context WHERE context = 'catalog'"
        )
        stack.wait_stores_equal()
        body = {"sku": f"AFTER-{step}", "name": "n", "price": "3.00", "currency": "EUR"}
        assert post(stack, expected, "/api/catalog/products/", body).status_code == 201
        stack.wait_stores_equal()
        target = "monolith" if target == "service" else "service"
    runs = stack.control.rows("SELECT state FROM strangler_ownership_cutover_run")
    assert [state for (state,) in runs] == ["completed"] * len(STEPS)


def test_writes_on_the_service_are_published_once_and_never_echo_back(
    stack: CutoverStack,
) -> None:
    seed(stack, 3)
    stack.wait_stores_equal()
    assert_cutover_ok(stack.cutover("service"), "service")
    monolith_events = stack.outbox_count("monolith")
    writes = 30
    for index in range(writes):
        body = {"sku": f"SVC-{index}", "name": "s", "price": "1.00", "currency": "EUR"}
        assert post(stack, SERVICE, "/api/catalog/products/", body).status_code == 201
    stack.wait_stores_equal()
    assert stack.outbox_count(SERVICE) == writes
    assert stack.outbox_count(SERVICE, "published_at IS NULL") == 0
    assert stack.outbox_count("monolith") == monolith_events  # the handlers recorded nothing
    applied = stack.monolith_db.rows(
        "SELECT causation_id FROM strangler_outbox_event WHERE source = %s", (SERVICE,)
    )
    assert applied == []
    recorded = stack.monolith_db.scalar(
        "SELECT count(*) FROM strangler_inbox_record WHERE source = %s", (SERVICE,)
    )
    assert recorded == writes
    # The service received its own events back and skipped them (recorded, not re-applied).
    own = stack.service_db.scalar(
        "SELECT count(*) FROM strangler_inbox_record WHERE source = %s", (SERVICE,)
    )
    assert own <= writes


def test_a_write_sent_to_the_non_writer_gets_409_and_changes_nothing(stack: CutoverStack) -> None:
    seed(stack, 2)
    stack.wait_stores_equal()
    body = {"sku": "NOPE", "name": "n", "price": "1.00", "currency": "EUR"}
    refused = post(stack, SERVICE, "/api/catalog/products/", body)
    assert refused.status_code == 409
    assert "owned by monolith" in refused.json()["error"]["message"]
    assert_cutover_ok(stack.cutover("service"), "service")
    before = stack.wait_stores_equal()
    refused = post(stack, "monolith", "/api/catalog/products/", body)
    assert refused.status_code == 409
    assert refused.json()["error"]["message"].startswith(
        "writes for catalog are owned by catalog-service;"
    )
    assert (
        httpx.patch(
            f"{stack.urls['monolith']}/api/catalog/products/1/",
            json={"name": "x"},
            headers=stack.staff_headers(),
            timeout=30,
        ).status_code
        == 409
    )
    assert stack.wait_stores_equal() == before

    status = stack.manage("monolith", "migration_status", "catalog", "--json")
    assert status.returncode == 0, status.stderr
    (catalog,) = json.loads(status.stdout)
    assert (catalog["writer"], catalog["frozen"], catalog["reader_behind"]) == (SERVICE, False, 0)
    assert {side["name"]: side["outbox_pending"] for side in catalog["sides"]} == {
        "monolith": 0,
        SERVICE: 0,
    }
    assert [side["dead_letters"] for side in catalog["sides"]] == [0, 0]
    text = stack.manage(SERVICE, "migration_status")
    assert "catalog: writer catalog-service, writes open" in text.stdout, text.stdout + text.stderr


def test_a_failed_check_aborts_with_writes_unfrozen_and_the_writer_unchanged(
    stack: CutoverStack,
) -> None:
    seed(stack, 4)
    stack.wait_stores_equal()
    # Drift behind the inbox's back: the service's copy of a product differs.
    stack.service_db.rows(
        "UPDATE catalog_product SET name = 'drifted' WHERE sku = 'SEED-2' RETURNING id"
    )
    result = stack.cutover("service")
    assert result.returncode == 1
    assert "aborted at step verify" in result.stderr
    assert "different" in result.stderr
    assert stack.writer() == "monolith"
    frozen = stack.control.scalar("SELECT frozen FROM strangler_ownership_context")
    assert frozen is False
    body = {"sku": "STILL", "name": "n", "price": "1.00", "currency": "EUR"}
    assert post(stack, "monolith", "/api/catalog/products/", body).status_code == 201
