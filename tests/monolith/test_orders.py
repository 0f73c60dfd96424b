"""Orders: placement rules, cancellation, status transitions and the /api/orders/ endpoints."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from monolith.inventory.models import Reservation, StockItem
from monolith.inventory.services import InsufficientStock
from monolith.orders import services
from monolith.orders.models import Order, OrderStatus
from monolith.orders.services import OrderLineRequest
from tests.monolith.factories import CustomerFactory, OrderFactory, StockItemFactory

pytestmark = pytest.mark.django_db

ORDERS = "/api/orders/"


@pytest.fixture
def shop():
    """A customer and two products in stock (10 and 2 units)."""
    return {
        "customer": CustomerFactory(),
        "hammer": StockItemFactory(on_hand=10, product__price=Decimal("12.50")),
        "saw": StockItemFactory(on_hand=2, product__price=Decimal("30.00")),
    }


def place(shop, *lines):
    return services.order_place(
        customer=shop["customer"],
        lines=[OrderLineRequest(shop[name].product.pk, quantity) for name, quantity in lines],
    )


def test_placing_takes_prices_from_products_and_reserves_stock(shop):
    order = place(shop, ("hammer", 3), ("saw", 2))
    assert order.status == OrderStatus.PENDING
    assert order.total == Decimal("97.50")
    assert order.currency == "EUR"
    assert [(line.sku, line.unit_price) for line in order.lines.all()] == [
        (shop["hammer"].sku, Decimal("12.50")),
        (shop["saw"].sku, Decimal("30.00")),
    ]
    held = {r.sku: r.quantity for r in Reservation.objects.filter(order=order, released=False)}
    assert held == {shop["hammer"].sku: 3, shop["saw"].sku: 2}
    assert StockItem.objects.get(pk=shop["saw"].pk).available == 0


def test_a_later_price_change_does_not_touch_placed_orders(shop):
    order = place(shop, ("hammer", 1))
    product = shop["hammer"].product
    product.price = Decimal("99.00")
    product.save()
    order.refresh_from_db()
    assert order.total == Decimal("12.50")


def test_an_inactive_product_cannot_be_ordered(shop):
    product = shop["hammer"].product
    product.active = False
    product.save()
    with pytest.raises(services.ProductUnavailable, match=product.sku):
        place(shop, ("hammer", 1))
    assert not Order.objects.exists()


def test_insufficient_stock_rolls_back_the_whole_order(shop):
    with pytest.raises(InsufficientStock, match="requested 3, available 2"):
        place(shop, ("hammer", 1), ("saw", 3))
    assert not Order.objects.exists()
    assert StockItem.objects.get(pk=shop["hammer"].pk).reserved == 0


def test_products_in_two_currencies_cannot_share_an_order(shop):
    saw = shop["saw"].product
    saw.currency = "USD"
    saw.save()
    with pytest.raises(services.MixedCurrencies):
        place(shop, ("hammer", 1), ("saw", 1))


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [OrderLineRequest(999999, 1)],
        [OrderLineRequest(-1, 0)],
    ],
)
def test_empty_unknown_or_zero_lines_are_invalid(shop, lines):
    with pytest.raises(ValidationError):
        services.order_place(customer=shop["customer"], lines=lines)


def test_cancel_releases_the_reservations(shop):
    order = place(shop, ("saw", 2))
    services.order_cancel(order=order, reason="changed my mind")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert StockItem.objects.get(pk=shop["saw"].pk).available == 2
    assert Reservation.objects.get(order=order).released


def test_paid_orders_can_be_cancelled_too(shop):
    order = services.order_transition(order=place(shop, ("saw", 1)), to_status="paid")
    assert services.order_cancel(order=order).status == OrderStatus.CANCELLED


def test_shipping_takes_the_units_out_of_stock(shop):
    order = place(shop, ("hammer", 4))
    order = services.order_transition(order=order, to_status=OrderStatus.PAID)
    order = services.order_transition(order=order, to_status=OrderStatus.SHIPPED)
    stock = StockItem.objects.get(pk=shop["hammer"].pk)
    assert (order.status, stock.on_hand, stock.reserved) == (OrderStatus.SHIPPED, 6, 0)
    assert Reservation.objects.get(order=order).fulfilled


def test_transition_to_cancelled_goes_through_cancel(shop):
    order = services.order_transition(order=place(shop, ("saw", 2)), to_status="cancelled")
    assert order.status == OrderStatus.CANCELLED
    assert StockItem.objects.get(pk=shop["saw"].pk).reserved == 0


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (OrderStatus.PENDING, OrderStatus.SHIPPED),
        (OrderStatus.PENDING, OrderStatus.PENDING),
        (OrderStatus.PAID, OrderStatus.PENDING),
        (OrderStatus.SHIPPED, OrderStatus.CANCELLED),
        (OrderStatus.SHIPPED, OrderStatus.PAID),
        (OrderStatus.CANCELLED, OrderStatus.PAID),
        (OrderStatus.CANCELLED, OrderStatus.CANCELLED),
    ],
)
def test_invalid_transitions_are_refused(start, target):
    order = OrderFactory(status=start)
    with pytest.raises(services.InvalidTransition, match=f"is {start} and cannot become {target}"):
        services.order_transition(order=order, to_status=target)
    order.refresh_from_db()
    assert order.status == start


# --- API -----------------------------------------------------------------------------------


def test_place_over_the_api_returns_201_with_lines(api, shop):
    response = api.post(
        ORDERS,
        {
            "customer": shop["customer"].pk,
            "lines": [{"product": shop["hammer"].product.pk, "quantity": 2}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["total"], body["currency"]) == ("pending", "25.00", "EUR")
    assert body["lines"][0]["unit_price"] == "12.50"
    assert body["lines"][0]["line_total"] == "25.00"
    assert api.get(f"{ORDERS}{body['id']}/").json() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": [{"product": 1, "quantity": 1}]}, "customer"),
        ({"customer": 999999, "lines": [{"product": 1, "quantity": 1}]}, "customer"),
        ({"customer": "CUSTOMER"}, "lines"),
        ({"customer": "CUSTOMER", "lines": []}, "lines"),
        ({"customer": "CUSTOMER", "lines": [{"product": "HAMMER"}]}, "lines"),
        ({"customer": "CUSTOMER", "lines": [{"product": "HAMMER", "quantity": 0}]}, "lines"),
        ({"customer": "CUSTOMER", "lines": [{"product": "x", "quantity": 1}]}, "lines"),
        ({"customer": "CUSTOMER", "lines": [{"product": 999999, "quantity": 1}]}, "lines"),
        (
            {
                "customer": "CUSTOMER",
                "lines": [
                    {"product": "HAMMER", "quantity": 1},
                    {"product": "HAMMER", "quantity": 1},
                ],
            },
            "lines",
        ),
    ],
)
def test_place_rejects_invalid_input(api, shop, body, field):
    ids = {"CUSTOMER": shop["customer"].pk, "HAMMER": shop["hammer"].product.pk}
    body = {
        key: (
            ids.get(value, value)
            if not isinstance(value, list)
            else [{k: ids.get(v, v) for k, v in line.items()} for line in value]
        )
        for key, value in body.items()
    }
    response = api.post(ORDERS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Order.objects.exists()


def test_place_with_insufficient_stock_is_a_clear_409(api, shop):
    response = api.post(
        ORDERS,
        {
            "customer": shop["customer"].pk,
            "lines": [{"product": shop["saw"].product.pk, "quantity": 5}],
        },
        format="json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_stock"
    assert f"{shop['saw'].sku} (requested 5, available 2)" in error["message"]


def test_place_with_an_inactive_product_is_a_409(api, shop):
    product = shop["hammer"].product
    product.active = False
    product.save()
    response = api.post(
        ORDERS,
        {"customer": shop["customer"].pk, "lines": [{"product": product.pk, "quantity": 1}]},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "product_unavailable"


def test_cancel_and_transition_over_the_api(api, shop):
    paid = services.order_transition(order=place(shop, ("hammer", 1)), to_status="paid")
    shipped = api.post(f"{ORDERS}{paid.pk}/transition/", {"status": "shipped"}, format="json")
    assert shipped.status_code == 200, shipped.content
    assert shipped.json()["status"] == "shipped"

    pending = place(shop, ("saw", 1))
    cancelled = api.post(f"{ORDERS}{pending.pk}/cancel/", {"reason": "duplicate"}, format="json")
    assert cancelled.json()["status"] == "cancelled"
    assert StockItem.objects.get(pk=shop["saw"].pk).available == 2


def test_invalid_transition_over_the_api_is_a_409(api):
    order = OrderFactory(status=OrderStatus.SHIPPED)
    response = api.post(f"{ORDERS}{order.pk}/transition/", {"status": "paid"}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert "it can become: nothing" in error["message"]
    response = api.post(f"{ORDERS}{order.pk}/cancel/", {}, format="json")
    assert response.status_code == 409


def test_transition_and_cancel_validate_input_and_404(api):
    order = OrderFactory()
    for body in ({}, {"status": "lost"}):
        response = api.post(f"{ORDERS}{order.pk}/transition/", body, format="json")
        assert response.status_code == 400
        assert "status" in response.json()["error"]["fields"]
    response = api.post(f"{ORDERS}{order.pk}/cancel/", {"reason": "x" * 201}, format="json")
    assert "reason" in response.json()["error"]["fields"]
    assert (
        api.post(f"{ORDERS}999999/transition/", {"status": "paid"}, format="json").status_code
        == 404
    )
    assert api.post(f"{ORDERS}999999/cancel/", {}, format="json").status_code == 404
    assert api.get(f"{ORDERS}999999/").status_code == 404


def test_order_list_filters_by_customer_and_status(api):
    mine = OrderFactory(status=OrderStatus.PAID)
    OrderFactory(customer=mine.customer)
    OrderFactory(status=OrderStatus.PAID)
    ids = lambda params: [o["id"] for o in api.get(ORDERS, params).json()["results"]]  # noqa: E731
    assert ids({"customer": mine.customer.pk, "status": "paid"}) == [mine.pk]
    assert len(ids({"status": "paid"})) == 2
    response = api.get(ORDERS, {"status": "lost"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]
