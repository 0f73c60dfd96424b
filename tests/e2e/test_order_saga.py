"""End to end: orders placed in the monolith while the inventory service writes inventory.

Real processes on loopback (tests/e2e/cutover_stack.py with the INVENTORY context): the monolith
and the inventory service, each with its web server, outbox relay and inbox consumer, PostgreSQL
databases of their own and RabbitMQ queues of this test only. After `cutover inventory --to
service` every order is a saga: placed pending, reserved or refused by the service, confirmed or
rejected by the monolith's consumer. Concurrent orders for the last units never oversell; a
consumer killed mid-saga and restarted leaves every order confirmed with its stock or rejected
with none; an unanswered order times out; cancelling releases; reconcile stays equal.
"""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cutover_stack import INVENTORY, CutoverStack, cutover_stack
from tests.processes import PYTHON, ProcessGroup, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq]

SERVICE = INVENTORY.service


@pytest.fixture
def stack(processes: ProcessGroup, postgres_url: str, rabbitmq_url: str, tmp_path: Path) -> Any:
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
    return httpx.request(method, url, headers=stack.staff_headers(), timeout=60, **kwargs)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


def product_with_stock(stack: CutoverStack, sku: str, units: int) -> int:
    body = {"sku": sku, "name": sku, "price": "4.00", "currency": "EUR"}
    product = created(call(stack, "monolith", "POST", "/api/catalog/products/", json=body))
    adjust = {"sku": sku, "delta": units, "reason": "e2e"}
    created(call(stack, "monolith", "POST", "/api/inventory/stock/adjust/", json=adjust))
    return product["id"]


def place(stack: CutoverStack, customer: int, product: int, quantity: int = 1) -> dict[str, Any]:
    body = {"customer": customer, "lines": [{"product": product, "quantity": quantity}]}
    return created(call(stack, "monolith", "POST", "/api/orders/", json=body))


def sagas_waiting(stack: CutoverStack) -> int:
    return stack.monolith_db.scalar(
        "SELECT count(*) FROM strangler_sagas_saga WHERE state = 'waiting'"
    )


def wait_sagas_ended(stack: CutoverStack, timeout: float = 120) -> None:
    try:
        wait_until(lambda: sagas_waiting(stack) == 0, timeout=timeout, what="every saga to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.processes.logs()}") from exc


def outcomes(stack: CutoverStack, orders: list[int]) -> dict[int, tuple[str, str]]:
    """order id -> (order status, saga outcome), from the monolith's database."""
    rows = stack.monolith_db.rows(
        "SELECT o.id, o.status, s.outcome FROM orders_order o JOIN strangler_sagas_saga s "
        "ON s.key = o.id::text AND s.saga_type = 'orders.place_order' WHERE o.id = ANY(%s)",
        (orders,),
    )
    return {order: (status, outcome) for order, status, outcome in rows}


def held_by_service(stack: CutoverStack, orders: list[int]) -> dict[int, int]:
    """order id -> units the service holds for it (open reservations)."""
    rows = stack.service_db.rows(
        "SELECT order_id, sum(quantity) FROM inventory_reservation "
        "WHERE NOT released AND NOT fulfilled AND order_id = ANY(%s) GROUP BY order_id",
        (orders,),
    )
    return {order: int(units) for order, units in rows}


def reserved(stack: CutoverStack, side: str, sku: str) -> int:
    return stack.dbs[side].scalar("SELECT reserved FROM inventory_stockitem WHERE sku = %s", (sku,))


def assert_reconciled(stack: CutoverStack) -> None:
    stack.wait_stores_equal()
    done = stack.manage("monolith", "reconcile", "inventory", "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads(done.stdout)["equal"] is True


def assert_confirmed_or_rejected(stack: CutoverStack, orders: list[int], quantity: int) -> int:
    """Every order confirmed with its units held, or rejected with none; returns how many were
    confirmed."""
    results = outcomes(stack, orders)
    held = held_by_service(stack, orders)
    assert set(results) == set(orders)
    confirmed = 0
    for order, (status, outcome) in results.items():
        if outcome == "confirmed":
            assert (status, held.get(order)) == ("pending", quantity), (order, status, held)
            confirmed += 1
        else:
            assert (status, outcome, held.get(order)) == ("cancelled", "refused", None), order
    return confirmed


def restart_consumer(stack: CutoverStack, processes: ProcessGroup) -> None:
    processes.start(
        "service-consumer-again",
        [PYTHON, INVENTORY.manage, "consume_events"],
        stack.env_of(SERVICE),
    )


def test_orders_across_the_split_never_oversell_survive_a_killed_consumer_and_time_out(
    stack: CutoverStack, processes: ProcessGroup
) -> None:
    customer = created(
        call(
            stack, "monolith", "POST", "/api/customers/", json={"email": "c@shop.test", "name": "C"}
        )
    )["id"]
    last_units = product_with_stock(stack, "LAST-5", 5)
    killed = product_with_stock(stack, "KILL-6", 6)
    slow = product_with_stock(stack, "SLOW-3", 3)
    stack.wait_stores_equal()
    result = stack.cutover("service")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stack.writer() == SERVICE

    # 20 concurrent orders for the last 5 units: exactly 5 confirmed, 15 rejected.
    with ThreadPoolExecutor(max_workers=10) as pool:
        placed = list(pool.map(lambda _: place(stack, customer, last_units), range(20)))
    assert {order["status"] for order in placed} == {"pending"}
    last_orders = [order["id"] for order in placed]
    wait_sagas_ended(stack)
    assert assert_confirmed_or_rejected(stack, last_orders, 1) == 5
    assert reserved(stack, SERVICE, "LAST-5") == 5
    assert_reconciled(stack)
    assert reserved(stack, "monolith", "LAST-5") == 5

    # The service's consumer is SIGKILLed mid-saga, then restarted.
    consumer = next(p for p in processes.processes if p.name == "service-consumer")
    kill_orders = [place(stack, customer, killed, 2)["id"] for _ in range(6)]

    def answered() -> int:
        return stack.service_db.scalar(
            "SELECT count(*) FROM inventory_orderreservation WHERE order_id = ANY(%s)",
            (kill_orders,),
        )

    wait_until(lambda: answered() >= 1, timeout=60, what="the service to answer an order")
    consumer.signal(signal.SIGKILL)
    assert consumer.wait_exit(10) == -signal.SIGKILL
    kill_orders += [place(stack, customer, killed, 2)["id"] for _ in range(2)]
    restart_consumer(stack, processes)
    wait_sagas_ended(stack)
    assert assert_confirmed_or_rejected(stack, kill_orders, 2) == 3
    assert reserved(stack, SERVICE, "KILL-6") == 6
    assert_reconciled(stack)

    # Timeout: the service does not answer; expire_sagas rejects the order, and the service,
    # answering late, reserves and then releases it on the rejection's cancelled event.
    again = next(p for p in processes.processes if p.name == "service-consumer-again")
    again.kill()
    late = place(stack, customer, slow, 2)["id"]
    stack.monolith_db.rows(
        "UPDATE strangler_sagas_saga SET deadline = now() - interval '1 second' "
        "WHERE key = %s RETURNING id",
        (str(late),),
    )
    expired = stack.manage("monolith", "expire_sagas")
    assert expired.returncode == 0, expired.stderr
    assert f"timed out: orders.place_order {late}" in expired.stdout
    assert outcomes(stack, [late]) == {late: ("cancelled", "timed_out")}
    restart_consumer(stack, processes)
    wait_until(
        lambda: (
            stack.service_db.rows(
                "SELECT state FROM inventory_orderreservation WHERE order_id = %s", (late,)
            )
            == [("released",)]
        ),
        timeout=60,
        what="the late reservation to be released",
    )
    assert held_by_service(stack, [late]) == {}
    assert reserved(stack, SERVICE, "SLOW-3") == 0

    # Cancelling a confirmed order releases its units on the service.
    confirmed = next(
        o for o, (_, outcome) in outcomes(stack, last_orders).items() if outcome == "confirmed"
    )
    cancelled = call(stack, "monolith", "POST", f"/api/orders/{confirmed}/cancel/", json={})
    assert cancelled.status_code == 200, cancelled.text
    wait_until(lambda: reserved(stack, SERVICE, "LAST-5") == 4, timeout=60, what="the release")
    assert held_by_service(stack, [confirmed]) == {}
    assert_reconciled(stack)
    assert reserved(stack, "monolith", "LAST-5") == 4
    released = stack.monolith_db.scalar(
        "SELECT bool_and(released) FROM inventory_reservation WHERE order_id = %s", (confirmed,)
    )
    assert released is True

    status = stack.manage("monolith", "migration_status", "inventory", "--json", "--no-versions")
    assert status.returncode == 0, status.stderr
    (inventory,) = json.loads(status.stdout)
    assert inventory["sagas"]["in_flight"] == 0
    assert inventory["sagas"]["ended"] == {"confirmed": 8, "refused": 20, "timed_out": 1}
