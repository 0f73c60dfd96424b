"""Who may do what in the shop: public catalog reads, staff writes, customers see their own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from monolith.common.seeding import SeedPlan, seed_demo
from tests.identity import ADA, BEN, STAFF, token_of
from tests.monolith.factories import (
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StockItemFactory,
)

pytestmark = pytest.mark.django_db

WRITES = [
    ("post", "/api/catalog/products/", {"sku": "X", "name": "X", "price": "1", "currency": "EUR"}),
    ("post", "/api/catalog/categories/", {"name": "Tools", "slug": "tools"}),
    ("post", "/api/inventory/stock/adjust/", {"sku": "X-1", "delta": 1, "reason": "count"}),
    ("post", "/api/customers/", {"email": "eve@shop.test", "name": "Eve"}),
    ("post", "/api/orders/", {"customer": 1, "lines": [{"product": 1, "quantity": 1}]}),
]  # fmt: skip


def client_of(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_of(user)}")
    return client


@pytest.fixture
def customers() -> dict[str, object]:
    """Two shop users, each the customer of one record with one order, and a product in stock."""
    ada_user = User.objects.create_user(username="ada", password="pw-ada")
    ben_user = User.objects.create_user(username="ben", password="pw-ben")
    ada = CustomerFactory(user=ada_user)
    ben = CustomerFactory(user=ben_user)
    return {
        "ada": client_of(ada_user),
        "ben": client_of(ben_user),
        "ada_customer": ada,
        "ben_customer": ben,
        "ada_order": OrderLineFactory(order__customer=ada).order,
        "ben_order": OrderLineFactory(order__customer=ben).order,
        "stock": StockItemFactory(on_hand=5, product__price=Decimal("3.00")),
    }


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_anonymous_writes_are_401_with_a_bearer_challenge(anonymous_api, method, path, body):
    response = getattr(anonymous_api, method)(path, body, format="json")
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_anonymous_patch_and_cancel_are_refused(anonymous_api):
    product = ProductFactory(name="Kept")
    order = OrderFactory()
    patch = anonymous_api.patch(f"/api/catalog/products/{product.pk}/", {"name": "Renamed"})
    assert patch.status_code == 401
    assert anonymous_api.post(f"/api/orders/{order.pk}/cancel/", {}).status_code == 401
    product.refresh_from_db()
    order.refresh_from_db()
    assert (product.name, order.status) == ("Kept", "pending")


def test_catalog_and_stock_reads_stay_public(anonymous_api):
    ProductFactory()
    assert anonymous_api.get("/api/catalog/products/").status_code == 200
    assert anonymous_api.get("/api/inventory/stock/").status_code == 200


def test_customers_and_orders_need_a_user_even_to_read(anonymous_api):
    CustomerFactory()
    assert anonymous_api.get("/api/customers/").status_code == 401
    assert anonymous_api.get("/api/orders/").status_code == 401


def test_a_customer_without_model_permissions_cannot_change_the_catalog(customers):
    product = ProductFactory()
    response = customers["ada"].patch(
        f"/api/catalog/products/{product.pk}/", {"name": "Mine"}, format="json"
    )
    assert response.status_code == 403
    assert (
        customers["ada"]
        .post("/api/inventory/stock/adjust/", {"sku": product.sku, "delta": 1, "reason": "x"})
        .status_code
        == 403
    )


def test_a_customer_sees_only_their_own_customer_record_and_orders(customers):
    ada = customers["ada"]
    listed = ada.get("/api/orders/").json()["results"]
    assert [order["id"] for order in listed] == [customers["ada_order"].pk]
    assert ada.get(f"/api/orders/{customers['ben_order'].pk}/").status_code == 404
    assert ada.get("/api/orders/", {"customer": customers["ben_customer"].pk}).json()["count"] == 0
    people = ada.get("/api/customers/").json()["results"]
    assert [person["id"] for person in people] == [customers["ada_customer"].pk]
    assert ada.get(f"/api/customers/{customers['ben_customer'].pk}/").status_code == 404


def test_a_customer_cannot_change_or_cancel_someone_elses(customers):
    ada = customers["ada"]
    ben_order = customers["ben_order"]
    assert ada.post(f"/api/orders/{ben_order.pk}/cancel/", {}, format="json").status_code == 404
    ben_path = f"/api/customers/{customers['ben_customer'].pk}/"
    assert ada.patch(ben_path, {"name": "Ada"}, format="json").status_code == 404
    ben_order.refresh_from_db()
    assert ben_order.status == "pending"


def test_a_customer_places_orders_for_themselves_only(customers):
    ada = customers["ada"]
    line = [{"product": customers["stock"].product.pk, "quantity": 1}]
    theirs = ada.post(
        "/api/orders/", {"customer": customers["ben_customer"].pk, "lines": line}, format="json"
    )
    assert theirs.status_code == 400
    assert "customer" in theirs.json()["error"]["fields"]
    mine = ada.post(
        "/api/orders/", {"customer": customers["ada_customer"].pk, "lines": line}, format="json"
    )
    assert mine.status_code == 201, mine.content


def test_a_customer_cancels_their_own_order_but_only_staff_move_statuses(customers, api):
    ada = customers["ada"]
    order = customers["ada_order"]
    move = ada.post(f"/api/orders/{order.pk}/transition/", {"status": "paid"}, format="json")
    assert move.status_code == 403
    assert ada.post(f"/api/orders/{order.pk}/cancel/", {}, format="json").status_code == 200
    other = customers["ben_order"]
    staff_move = api.post(f"/api/orders/{other.pk}/transition/", {"status": "paid"}, format="json")
    assert staff_move.status_code == 200


def test_a_new_user_creates_one_customer_record_linked_to_them():
    user = User.objects.create_user(username="eve", password="pw-eve")
    eve = client_of(user)
    created = eve.post("/api/customers/", {"email": "eve@shop.test", "name": "Eve"}, format="json")
    assert created.status_code == 201
    assert User.objects.get(pk=user.pk).customer.pk == created.json()["id"]
    again = eve.post("/api/customers/", {"email": "eve2@shop.test", "name": "Eve"}, format="json")
    assert again.status_code == 400


def test_the_token_endpoint_answers_a_token_for_good_credentials_only(anonymous_api):
    User.objects.create_user(username="ada", password="pw-ada")
    good = anonymous_api.post(
        "/api/auth/token/", {"username": "ada", "password": "pw-ada"}, format="json"
    )
    assert good.status_code == 200
    assert good.json()["token_type"] == "Bearer"
    bad = anonymous_api.post(
        "/api/auth/token/", {"username": "ada", "password": "wrong"}, format="json"
    )
    assert bad.status_code == 401
    anonymous_api.credentials(HTTP_AUTHORIZATION=f"Bearer {good.json()['access']}")
    assert anonymous_api.get("/api/orders/").status_code == 200


def test_a_bad_bearer_token_is_401_not_anonymous(anonymous_api):
    anonymous_api.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    response = anonymous_api.get("/api/catalog/products/")
    assert response.status_code == 401
    assert "Invalid bearer token" in response.content.decode()


def test_seeded_demo_users_have_their_documented_rights():
    seed_demo(SeedPlan(products=3, customers=3, orders=4))
    client = APIClient()
    tokens = {}
    for username, password in (STAFF, ADA, BEN):
        answer = client.post(
            "/api/auth/token/", {"username": username, "password": password}, format="json"
        )
        assert answer.status_code == 200, username
        tokens[username] = answer.json()["access"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['ada']}")
    mine = client.get("/api/customers/").json()["results"]
    assert [person["email"] for person in mine] == ["customer000001@demo.example"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['staff']}")
    assert client.get("/api/customers/").json()["count"] == 3
    product = client.get("/api/catalog/products/").json()["results"][0]
    renamed = client.patch(
        f"/api/catalog/products/{product['id']}/", {"name": "Renamed"}, format="json"
    )
    assert renamed.status_code == 200
