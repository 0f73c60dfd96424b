"""Orders across the split: once the inventory service writes inventory, an order waits for it.

The order is placed pending with a saga; the service's answer (inventory.stock.reserved or
inventory.reservation.refused, applied by the monolith's inbox) confirms or rejects it; a
replayed or late answer changes nothing; the timeout rejects an unanswered order; cancelling
ends the saga and leaves the release to the service (the cancelled event).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from monolith.config.inbox import HANDLERS
from monolith.inventory.models import Reservation, StockItem
from monolith.orders import services
from monolith.orders.models import Order, OrderStatus
from monolith.orders.services import InvalidTransition, OrderLineRequest
from strangler.contracts.envelope import Envelope
from strangler.inbox.services import Outcome, apply_events
from strangler.ownership.guard import NotWriterError
from strangler.ownership.services import set_writer
from strangler.sagas.models import Saga, SagaState
from tests.monolith.factories import CustomerFactory, StockItemFactory

pytestmark = pytest.mark.django_db

SERVICE = "inventory-service"


@pytest.fixture
def shop() -> dict[str, Any]:
    """A customer, two products in stock, and inventory written by its service."""
    shop = {
        "customer": CustomerFactory(),
        "hammer": StockItemFactory(on_hand=10, product__price=Decimal("12.50")),
        "saw": StockItemFactory(on_hand=2, product__price=Decimal("30.00")),
    }
    set_writer("inventory", SERVICE)
    return shop


def place(shop: dict[str, Any], *lines: tuple[str, int]) -> Order:
    return services.order_place(
        customer=shop["customer"],
        lines=[OrderLineRequest(shop[name].product.pk, quantity) for name, quantity in lines],
    )


def saga_of(order: Order) -> Saga:
    return Saga.objects.get(saga_type=services.PLACE_ORDER_SAGA, key=str(order.pk))


def answer(event_type: str, data: dict[str, Any], *, event_id: str | None = None) -> Outcome:
    """Apply one answer of the service the way the monolith's consumer does."""
    envelope = Envelope(
        id=event_id or str(uuid.uuid4()),
        source=SERVICE,
        type=event_type,
        data=data,
        subject=str(data.get("stock_id", data["order_id"])),
        time=datetime.now(UTC),
        dataversion=1,
    )
    with transaction.atomic():
        (result,) = apply_events([envelope], subscriber="monolith", handlers=HANDLERS)
    return result.outcome


def reserved(order: Order, stock: StockItem, quantity: int) -> dict[str, Any]:
    return {
        "stock_id": stock.pk,
        "sku": stock.sku,
        "order_id": order.pk,
        "reservation_id": 7,
        "quantity": quantity,
    }


def refused(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.pk,
        "reason": "not enough stock for: SAW (requested 3, available 2)",
        "shortages": [{"sku": "SAW", "requested": 3, "available": 2}],
    }


def test_an_order_is_placed_pending_with_a_saga_and_no_local_reservation(shop, outbox):
    order = place(shop, ("hammer", 3))

    assert order.status == OrderStatus.PENDING
    saga = saga_of(order)
    assert (saga.state, saga.step, saga.context) == (
        SagaState.WAITING,
        "reserve_stock",
        "inventory",
    )
    assert not Reservation.objects.filter(order=order).exists()
    assert StockItem.objects.get(pk=shop["hammer"].pk).reserved == 0
    # The placed event is the service's request; the monolith records no inventory event.
    assert "orders.order.placed" in outbox.types()
    assert not [t for t in outbox.types() if t.startswith("inventory.")]


def test_placement_stays_local_and_synchronous_while_the_monolith_writes_inventory(shop):
    set_writer("inventory", "monolith")

    order = place(shop, ("saw", 2))

    assert StockItem.objects.get(pk=shop["saw"].pk).reserved == 2
    assert not Saga.objects.exists()
    assert order.status == OrderStatus.PENDING


def test_the_services_reservation_confirms_the_order_once(shop):
    order = place(shop, ("hammer", 3), ("saw", 1))
    first = reserved(order, shop["hammer"], 3)

    assert answer("inventory.stock.reserved", first) == Outcome.APPLIED
    assert answer("inventory.stock.reserved", reserved(order, shop["saw"], 1)) == Outcome.APPLIED

    saga = saga_of(order)
    assert (saga.state, saga.outcome) == (SagaState.COMPLETED, "confirmed")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING
    # The legacy reservation rows follow the service's, one per order and SKU.
    rows = Reservation.objects.filter(order=order).order_by("sku")
    assert sorted((r.sku, r.quantity) for r in rows) == sorted(
        [(shop["hammer"].sku, 3), (shop["saw"].sku, 1)]
    )
    # A redelivered answer (same event id) is a duplicate; the same answer again changes nothing.
    assert answer("inventory.stock.reserved", first) == Outcome.APPLIED
    assert Reservation.objects.filter(order=order).count() == 2
    assert saga_of(order).finished_at == saga.finished_at


def test_a_refusal_rejects_the_order_and_a_replayed_refusal_changes_nothing(shop, outbox):
    order = place(shop, ("saw", 1))
    event_id = str(uuid.uuid4())

    assert answer("inventory.reservation.refused", refused(order), event_id=event_id) == (
        Outcome.APPLIED
    )

    rejected = Order.objects.get(pk=order.pk)
    assert rejected.status == OrderStatus.CANCELLED
    saga = saga_of(order)
    assert (saga.state, saga.outcome) == (SagaState.COMPENSATED, "refused")
    cancelled = outbox.last("orders.order.cancelled")
    assert cancelled.data["reason"].startswith("rejected: not enough stock for: SAW")
    assert cancelled.data["previous_status"] == "pending"
    events = len(outbox.rows())

    assert answer("inventory.reservation.refused", refused(order), event_id=event_id) == (
        Outcome.DUPLICATE
    )
    assert answer("inventory.reservation.refused", refused(order)) == Outcome.APPLIED
    assert len(outbox.rows()) == events
    assert Order.objects.get(pk=order.pk).updated_at == rejected.updated_at


def test_a_late_reservation_after_the_rejection_changes_no_order(shop):
    order = place(shop, ("hammer", 1))
    answer("inventory.reservation.refused", refused(order))

    answer("inventory.stock.reserved", reserved(order, shop["hammer"], 1))

    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert saga_of(order).outcome == "refused"


def test_expire_sagas_rejects_an_order_the_service_did_not_answer_in_time(shop, outbox):
    order = place(shop, ("hammer", 2))
    answered = place(shop, ("hammer", 1))
    Saga.objects.filter(key=str(order.pk)).update(deadline=datetime.now(UTC) - timedelta(seconds=1))

    call_command("expire_sagas")

    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    saga = saga_of(order)
    assert (saga.state, saga.outcome) == (SagaState.COMPENSATED, "timed_out")
    reason = outbox.last("orders.order.cancelled").data["reason"]
    assert reason == "rejected: inventory did not confirm the stock in time"
    assert saga_of(answered).state == SagaState.WAITING  # not due yet
    # The answer that comes after the timeout finds the saga ended.
    answer("inventory.stock.reserved", reserved(order, shop["hammer"], 2))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_cancelling_a_waiting_order_ends_its_saga_and_leaves_the_release_to_the_service(
    shop, outbox
):
    order = place(shop, ("hammer", 2))

    services.order_cancel(order=order, reason="changed my mind")

    saga = saga_of(order)
    assert (saga.state, saga.outcome) == (SagaState.COMPENSATED, "cancelled")
    assert outbox.last("orders.order.cancelled").data["reason"] == "changed my mind"
    assert not [t for t in outbox.types() if t.startswith("inventory.")]


def test_an_order_cannot_be_paid_before_its_stock_is_confirmed(shop):
    order = place(shop, ("hammer", 1))

    with pytest.raises(InvalidTransition, match="waits for its stock"):
        services.order_transition(order=order, to_status=OrderStatus.PAID)
    answer("inventory.stock.reserved", reserved(order, shop["hammer"], 1))
    paid = services.order_transition(order=order, to_status=OrderStatus.PAID)

    assert paid.status == OrderStatus.PAID


def test_shipping_is_refused_while_the_service_writes_inventory(shop):
    order = place(shop, ("hammer", 1))
    answer("inventory.stock.reserved", reserved(order, shop["hammer"], 1))
    services.order_transition(order=order, to_status=OrderStatus.PAID)

    with pytest.raises(NotWriterError):
        services.order_transition(order=order, to_status=OrderStatus.SHIPPED)


def test_placing_over_the_api_answers_201_pending(api, shop):
    body = {
        "customer": shop["customer"].pk,
        "lines": [{"product": shop["saw"].product.pk, "quantity": 2}],
    }

    response = api.post("/api/orders/", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    assert saga_of(Order.objects.get(pk=response.json()["id"])).state == SagaState.WAITING
