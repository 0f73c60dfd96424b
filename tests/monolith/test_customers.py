"""Customers: services and the /api/customers/ endpoints, every validation path included."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from monolith.customers import services
from monolith.customers.models import Address, Customer
from monolith.customers.services import AddressData
from tests.monolith.factories import AddressFactory, CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/customers/"


def address(**overrides):
    body = {"line1": "1 Main St", "city": "Paris", "postal_code": "75001", "country": "FR"}
    body.update(overrides)
    return body


def test_create_stores_a_lower_case_email_and_makes_the_first_address_default():
    customer = services.customer_create(
        email="Ada@Example.ORG",
        name="Ada",
        addresses=[AddressData("a", "b", "1", "DE"), AddressData("c", "d", "2", "FR")],
    )
    assert customer.email == "ada@example.org"
    assert [a.is_default for a in customer.addresses.all()] == [True, False]


def test_email_is_unique_whatever_its_case():
    CustomerFactory(email="ada@example.org")
    with pytest.raises(ValidationError) as info:
        services.customer_create(email="ADA@example.org", name="Other Ada")
    assert "email" in info.value.message_dict


def test_two_default_addresses_are_invalid():
    with pytest.raises(ValidationError):
        services.customer_create(
            email="b@example.org",
            name="B",
            addresses=[
                AddressData("a", "b", "1", "DE", True),
                AddressData("c", "d", "2", "FR", True),
            ],
        )


def test_update_with_addresses_replaces_them_and_without_keeps_them():
    customer = CustomerFactory()
    AddressFactory(customer=customer, city="Old")
    services.customer_update(customer=customer, changes={"name": "Renamed"})
    assert [a.city for a in customer.addresses.all()] == ["Old"]
    services.customer_update(
        customer=customer, changes={"addresses": [AddressData("x", "New", "1", "IT")]}
    )
    assert [(a.city, a.is_default) for a in customer.addresses.all()] == [("New", True)]


def test_delete_removes_addresses_but_is_refused_with_orders():
    customer = CustomerFactory()
    AddressFactory(customer=customer)
    services.customer_delete(customer=customer)
    assert not Address.objects.exists()
    with pytest.raises(services.CustomerInUse):
        services.customer_delete(customer=OrderFactory().customer)


def test_customer_crud_over_the_api(api):
    created = api.post(
        CUSTOMERS,
        {"email": "Eve@Shop.test", "name": "Eve", "addresses": [address(is_default=True)]},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["email"] == "eve@shop.test"
    assert [a["city"] for a in body["addresses"]] == ["Paris"]
    url = f"{CUSTOMERS}{body['id']}/"
    assert api.get(url).json()["name"] == "Eve"

    patched = api.patch(url, {"name": "Eve B."}, format="json").json()
    assert (patched["name"], len(patched["addresses"])) == ("Eve B.", 1)

    replaced = api.put(url, {"email": "eve@shop.test", "name": "Eve"}, format="json").json()
    assert replaced["addresses"] == []

    assert api.delete(url).status_code == 204
    assert not Customer.objects.filter(pk=body["id"]).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "email"),
        ({"email": "not-an-email", "name": "x"}, "email"),
        ({"email": "a@b.test"}, "name"),
        ({"email": "a@b.test", "name": ""}, "name"),
        ({"email": "a@b.test", "name": "x", "addresses": "nope"}, "addresses"),
        ({"email": "a@b.test", "name": "x", "addresses": [{"city": "x"}]}, "addresses"),
        ({"email": "a@b.test", "name": "x", "addresses": [address(country="fra")]}, "addresses"),
        (
            {
                "email": "a@b.test",
                "name": "x",
                "addresses": [address(is_default=True), address(is_default=True)],
            },
            "addresses",
        ),
    ],
)
def test_create_customer_rejects_invalid_input(api, body, field):
    response = api.post(CUSTOMERS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_create_customer_with_taken_email_is_invalid(api):
    CustomerFactory(email="taken@shop.test")
    response = api.post(CUSTOMERS, {"email": "TAKEN@shop.test", "name": "x"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]


def test_update_validation_and_missing_customer(api):
    customer = CustomerFactory()
    response = api.patch(f"{CUSTOMERS}{customer.pk}/", {"email": "bad"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]
    response = api.put(f"{CUSTOMERS}{customer.pk}/", {"name": "only"}, format="json")
    assert "email" in response.json()["error"]["fields"]
    assert api.get(f"{CUSTOMERS}999999/").status_code == 404
    assert api.patch(f"{CUSTOMERS}999999/", {}, format="json").status_code == 404
    assert api.delete(f"{CUSTOMERS}999999/").status_code == 404


def test_deleting_a_customer_with_orders_is_a_409_conflict(api):
    order = OrderFactory()
    response = api.delete(f"{CUSTOMERS}{order.customer.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "customer_in_use"


def test_customer_list_searches_and_filters_by_country(api):
    ada = CustomerFactory(name="Ada Lovelace")
    AddressFactory(customer=ada, country="GB")
    AddressFactory(customer=ada, country="GB", city="Bath")
    CustomerFactory(name="Grace Hopper")
    names = lambda params: [c["name"] for c in api.get(CUSTOMERS, params).json()["results"]]  # noqa: E731
    assert names({"search": "grace"}) == ["Grace Hopper"]
    assert names({"country": "gb"}) == ["Ada Lovelace"]
    assert names({"email": ada.email.upper()}) == ["Ada Lovelace"]
