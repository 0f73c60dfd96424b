"""Concurrent writers on PostgreSQL: row locks keep stock and order statuses consistent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection

from monolith.inventory.models import StockItem
from monolith.inventory.services import InsufficientStock
from monolith.orders import services
from monolith.orders.models import Order, OrderStatus
from monolith.orders.services import InvalidTransition, OrderLineRequest
from tests.monolith.factories import CustomerFactory, StockItemFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(workers: int, attempt: Callable[[], None]) -> list[str]:
    """Run `attempt` in `workers` threads started together; the outcome name of each."""
    barrier = threading.Barrier(workers, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            attempt()
            outcome = "ok"
        except (InsufficientStock, InvalidTransition) as exc:
            outcome = type(exc).__name__
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return sorted(outcomes)


def test_two_orders_for_the_last_units_cannot_both_succeed():
    stock = StockItemFactory(on_hand=3, product__price=Decimal("5.00"))
    customer = CustomerFactory()

    def attempt() -> None:
        services.order_place(customer=customer, lines=[OrderLineRequest(stock.product.pk, 2)])

    assert race(4, attempt) == ["InsufficientStock"] * 3 + ["ok"]
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (3, 2)
    assert Order.objects.count() == 1


def test_an_order_is_cancelled_only_once_when_asked_twice_at_once():
    stock = StockItemFactory(on_hand=5)
    order = services.order_place(
        customer=CustomerFactory(), lines=[OrderLineRequest(stock.product.pk, 4)]
    )

    def attempt() -> None:
        services.order_cancel(order=Order.objects.get(pk=order.pk))

    assert race(2, attempt) == ["InvalidTransition", "ok"]
    stock.refresh_from_db()
    assert stock.reserved == 0
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert StockItem.objects.get(pk=stock.pk).available == 5
