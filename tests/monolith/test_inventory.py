"""Inventory: adjustments, reservations and the /api/inventory/ endpoints."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from monolith.inventory import selectors, services
from monolith.inventory.models import Reservation, StockAdjustment, StockItem
from monolith.inventory.services import StockRequest
from tests.monolith.factories import OrderFactory, ProductFactory, StockItemFactory

pytestmark = pytest.mark.django_db

STOCK = "/api/inventory/stock/"
ADJUST = "/api/inventory/stock/adjust/"


# --- services --------------------------------------------------------------------------------


def test_first_adjustment_creates_the_stock_item_of_the_sku():
    product = ProductFactory(sku="NEW-1")
    stock = services.stock_adjust(sku="NEW-1", delta=7, reason="first delivery")
    assert (stock.product, stock.on_hand, stock.reserved, stock.available) == (product, 7, 0, 7)
    adjustment = StockAdjustment.objects.get(stock_item=stock)
    assert (adjustment.delta, adjustment.reason, adjustment.on_hand_after) == (
        7,
        "first delivery",
        7,
    )


def test_adjustment_for_an_unknown_sku_is_invalid():
    with pytest.raises(ValidationError) as info:
        services.stock_adjust(sku="NOPE", delta=1, reason="x")
    assert "sku" in info.value.message_dict


def test_adjustment_of_zero_is_invalid():
    stock = StockItemFactory()
    with pytest.raises(ValidationError):
        services.stock_adjust(sku=stock.sku, delta=0, reason="nothing")


def test_adjustment_may_not_make_stock_negative_or_go_below_reserved():
    stock = StockItemFactory(on_hand=10, reserved=4)
    with pytest.raises(services.StockAdjustmentRejected, match="negative"):
        services.stock_adjust(sku=stock.sku, delta=-11, reason="lost")
    with pytest.raises(services.StockAdjustmentRejected, match="reserved"):
        services.stock_adjust(sku=stock.sku, delta=-7, reason="lost")
    services.stock_adjust(sku=stock.sku, delta=-6, reason="lost")
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (4, 4)


def test_adjustment_may_not_take_stock_past_the_largest_count():
    stock = StockItemFactory(on_hand=services.MAX_UNITS - 5)
    with pytest.raises(services.StockAdjustmentRejected, match="exceed"):
        services.stock_adjust(sku=stock.sku, delta=6, reason="delivery")
    services.stock_adjust(sku=stock.sku, delta=5, reason="delivery")
    stock.refresh_from_db()
    assert stock.on_hand == services.MAX_UNITS


def test_reserve_holds_units_and_merges_requests_of_one_sku():
    stock = StockItemFactory(on_hand=10)
    order = OrderFactory()
    reservations = services.stock_reserve(
        order_id=order.pk,
        requests=[StockRequest(stock.sku, 2), StockRequest(stock.sku, 3)],
    )
    stock.refresh_from_db()
    assert stock.reserved == 5
    assert [(r.sku, r.quantity, r.is_open) for r in reservations] == [(stock.sku, 5, True)]


def test_reserve_is_all_or_nothing_and_names_every_short_sku():
    plenty, scarce = StockItemFactory(on_hand=10), StockItemFactory(on_hand=1)
    order = OrderFactory()
    with pytest.raises(services.InsufficientStock) as info:
        services.stock_reserve(
            order_id=order.pk,
            requests=[
                StockRequest(plenty.sku, 1),
                StockRequest(scarce.sku, 2),
                StockRequest("GHOST", 1),
            ],
        )
    assert f"{scarce.sku} (requested 2, available 1)" in info.value.message
    assert "GHOST (requested 1, available 0)" in info.value.message
    plenty.refresh_from_db()
    assert plenty.reserved == 0
    assert not Reservation.objects.exists()


def test_release_gives_units_back_and_fulfil_takes_them_out():
    first, second = StockItemFactory(on_hand=10), StockItemFactory(on_hand=10)
    cancelled, shipped = OrderFactory(), OrderFactory()
    services.stock_reserve(order_id=cancelled.pk, requests=[StockRequest(first.sku, 4)])
    services.stock_reserve(order_id=shipped.pk, requests=[StockRequest(second.sku, 3)])

    released = services.stock_release(order_id=cancelled.pk)
    fulfilled = services.stock_fulfil(order_id=shipped.pk)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.on_hand, first.reserved) == (10, 0)
    assert (second.on_hand, second.reserved) == (7, 0)
    assert [r.released for r in released] == [True]
    assert [r.fulfilled for r in fulfilled] == [True]
    # Closed reservations are not closed twice.
    assert services.stock_release(order_id=cancelled.pk) == []


def test_stock_list_selector_annotates_available_units():
    StockItemFactory(on_hand=9, reserved=2)
    assert [s.available_units for s in selectors.stock_list()] == [7]


# --- API -----------------------------------------------------------------------------------


def test_adjust_over_the_api_returns_the_stock(api):
    ProductFactory(sku="API-1")
    response = api.post(ADJUST, {"sku": "API-1", "delta": 12, "reason": "delivery"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["sku"], body["on_hand"], body["reserved"], body["available"]) == (
        "API-1",
        12,
        0,
        12,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delta": 1, "reason": "x"}, "sku"),
        ({"sku": "API-1", "reason": "x"}, "delta"),
        ({"sku": "API-1", "delta": "many", "reason": "x"}, "delta"),
        ({"sku": "API-1", "delta": 0, "reason": "x"}, "delta"),
        ({"sku": "API-1", "delta": 2**31, "reason": "x"}, "delta"),
        ({"sku": "API-1", "delta": 1}, "reason"),
        ({"sku": "API-1", "delta": 1, "reason": ""}, "reason"),
        ({"sku": "API-1", "delta": 1, "reason": "x" * 201}, "reason"),
        ({"sku": "UNKNOWN", "delta": 1, "reason": "x"}, "sku"),
    ],
)
def test_adjust_rejects_invalid_input(api, body, field):
    ProductFactory(sku="API-1")
    response = api.post(ADJUST, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_adjust_below_reserved_is_a_409_conflict(api):
    stock = StockItemFactory(on_hand=5, reserved=5)
    response = api.post(ADJUST, {"sku": stock.sku, "delta": -1, "reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stock_adjustment_rejected"


def test_stock_detail_and_404(api):
    stock = StockItemFactory(on_hand=3, reserved=1)
    assert api.get(f"{STOCK}{stock.pk}/").json()["available"] == 2
    assert api.get(f"{STOCK}{stock.pk + 99}/").status_code == 404


def test_stock_list_filters_low_stock_and_sku(api):
    StockItemFactory(on_hand=100, product__sku="FULL")
    StockItemFactory(on_hand=3, product__sku="LOW")
    low = api.get(STOCK, {"max_available": 5}).json()["results"]
    by_sku = api.get(STOCK, {"sku": "full"}).json()["results"]
    assert [s["sku"] for s in low] == ["LOW"]
    assert [s["sku"] for s in by_sku] == ["FULL"]
    response = api.get(STOCK, {"max_available": "few"})
    assert response.status_code == 400
    assert "max_available" in response.json()["error"]["fields"]


def test_adjustment_history_is_newest_first(api):
    ProductFactory(sku="HIST")
    for delta in (5, -2, 10):
        api.post(ADJUST, {"sku": "HIST", "delta": delta, "reason": f"r{delta}"}, format="json")
    stock = StockItem.objects.get(sku="HIST")
    body = api.get(f"{STOCK}{stock.pk}/adjustments/").json()
    assert [(a["delta"], a["on_hand_after"]) for a in body["results"]] == [
        (10, 13),
        (-2, 3),
        (5, 5),
    ]
    assert api.get(f"{STOCK}{stock.pk + 1}/adjustments/").status_code == 404
