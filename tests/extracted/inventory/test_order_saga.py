"""The inventory service's side of the orders' stock saga.

Once it writes inventory, it answers `orders.order.placed` by reserving all of an order's lines or
refusing, once per order whatever is redelivered or replayed, and `orders.order.cancelled` by
releasing what the order holds (reserved here, or by the monolith before the cutover). While the
monolith writes inventory it answers nothing, and keeps the monolith's reservations.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from extracted.inventory.inventory.handlers import HANDLERS
from extracted.inventory.inventory.models import (
    OrderReservation,
    OrderReservationState,
    Reservation,
    StockItem,
)
from strangler.contracts.envelope import Envelope
from strangler.inbox.services import Outcome, apply_events
from strangler.outbox.models import OutboxEvent
from strangler.ownership.services import set_writer

pytestmark = pytest.mark.django_db

SERVICE = "inventory-service"


@pytest.fixture
def stock() -> dict[str, StockItem]:
    now = timezone.now()
    set_writer("inventory", SERVICE)
    return {
        sku: StockItem.objects.create(
            product_id=index + 1, sku=sku, on_hand=on_hand, reserved=0, updated_at=now
        )
        for index, (sku, on_hand) in enumerate((("HAMMER", 10), ("SAW", 2)))
    }


def envelope(event_type: str, data: dict[str, Any], *, source: str = "monolith") -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source=source,
        type=event_type,
        data=data,
        subject=str(data.get("stock_id", data.get("order_id"))),
        time=datetime.now(UTC),
        dataversion=1,
    )


def apply(*envelopes: Envelope) -> list[Outcome]:
    with transaction.atomic():
        results = apply_events(envelopes, subscriber=SERVICE, handlers=HANDLERS)
    return [result.outcome for result in results]


def placed(order_id: int, *lines: tuple[str, int]) -> Envelope:
    return envelope(
        "orders.order.placed",
        {
            "order_id": order_id,
            "customer_id": 1,
            "total": "10.00",
            "currency": "EUR",
            "placed_at": "2026-01-01T00:00:00Z",
            "lines": [
                {"id": n + 1, "product_id": n + 1, "sku": sku, "quantity": q, "unit_price": "1.00"}
                for n, (sku, q) in enumerate(lines)
            ],
        },
    )


def cancelled(order_id: int) -> Envelope:
    return envelope(
        "orders.order.cancelled",
        {
            "order_id": order_id,
            "customer_id": 1,
            "previous_status": "pending",
            "reason": "",
            "cancelled_at": "2026-01-01T00:00:00Z",
        },
    )


def recorded(event_type: str) -> list[dict[str, Any]]:
    return [e.data for e in OutboxEvent.objects.filter(event_type=event_type).order_by("id")]


def reserved_units() -> dict[str, int]:
    return dict(StockItem.objects.values_list("sku", "reserved"))


def test_a_placed_order_is_reserved_all_or_nothing_and_the_answer_published(stock):
    assert apply(placed(1, ("HAMMER", 3), ("SAW", 2))) == [Outcome.APPLIED]

    assert reserved_units() == {"HAMMER": 3, "SAW": 2}
    assert [
        (d["order_id"], d["sku"], d["quantity"]) for d in recorded("inventory.stock.reserved")
    ] == [
        (1, "HAMMER", 3),
        (1, "SAW", 2),
    ]
    snapshots = {d["sku"]: d["reserved"] for d in recorded("inventory.stock.upserted")}
    assert snapshots == {"HAMMER": 3, "SAW": 2}
    assert OrderReservation.objects.get(order_id=1).state == OrderReservationState.RESERVED


def test_a_short_order_is_refused_naming_every_short_sku_and_holds_nothing(stock):
    apply(placed(2, ("HAMMER", 3), ("SAW", 3)))

    assert reserved_units() == {"HAMMER": 0, "SAW": 0}
    (refusal,) = recorded("inventory.reservation.refused")
    assert refusal["order_id"] == 2
    assert refusal["shortages"] == [{"sku": "SAW", "requested": 3, "available": 2}]
    assert not recorded("inventory.stock.reserved")


def test_a_placed_event_sent_again_reserves_once(stock):
    first = placed(3, ("SAW", 1))
    again = placed(3, ("SAW", 1))  # the same order, another copy (a replay gives it a new id)

    assert apply(first) == [Outcome.APPLIED]
    assert apply(first) == [Outcome.DUPLICATE]
    assert apply(again) == [Outcome.APPLIED]

    assert reserved_units()["SAW"] == 1
    assert len(recorded("inventory.stock.reserved")) == 1


def test_cancelling_releases_the_orders_units_once(stock):
    apply(placed(4, ("HAMMER", 2)))

    apply(cancelled(4))
    apply(cancelled(4))

    assert reserved_units()["HAMMER"] == 0
    (released,) = recorded("inventory.stock.released")
    assert (released["order_id"], released["quantity"]) == (4, 2)
    assert OrderReservation.objects.get(order_id=4).state == OrderReservationState.RELEASED


def test_a_cancellation_that_overtakes_the_placed_event_keeps_it_from_reserving(stock):
    apply(cancelled(5))
    apply(placed(5, ("HAMMER", 2)))

    assert reserved_units()["HAMMER"] == 0
    assert not recorded("inventory.stock.reserved")
    assert not recorded("inventory.reservation.refused")


def test_a_reservation_the_monolith_made_before_the_cutover_is_released_here(stock):
    set_writer("inventory", "monolith")
    monolith_reserved = envelope(
        "inventory.stock.reserved",
        {
            "stock_id": stock["SAW"].pk,
            "sku": "SAW",
            "order_id": 6,
            "reservation_id": 40,
            "quantity": 2,
        },
    )
    apply(monolith_reserved)
    StockItem.objects.filter(sku="SAW").update(reserved=2)  # its snapshot, as the stream brings it
    assert apply(placed(6, ("SAW", 2))) == [Outcome.APPLIED]  # the monolith reserved it itself
    assert not recorded("inventory.stock.reserved")
    set_writer("inventory", SERVICE)

    apply(cancelled(6))

    assert reserved_units()["SAW"] == 0
    assert Reservation.objects.get(order_id=6).released is True
    assert [d["order_id"] for d in recorded("inventory.stock.released")] == [6]


def test_the_service_answers_nothing_while_the_monolith_writes_inventory(stock):
    set_writer("inventory", "monolith")

    apply(placed(7, ("HAMMER", 1)), cancelled(8))

    assert reserved_units() == {"HAMMER": 0, "SAW": 0}
    assert not OutboxEvent.objects.exists()
    assert not OrderReservation.objects.exists()
