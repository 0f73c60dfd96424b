"""Bad input found by schemathesis is a 400 naming the field, never a 500."""

from __future__ import annotations

import pytest

from tests.monolith.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_a_patched_address_without_a_postal_code_is_a_400_naming_it(api):
    customer = CustomerFactory()
    response = api.patch(
        f"/api/customers/{customer.pk}/",
        {"addresses": [{"line1": "1 Main St", "city": "Paris", "country": "FR"}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["addresses"]["0"] == {
        "postal_code": ["This field is required."]
    }


def test_a_patched_address_may_leave_out_is_default(api):
    customer = CustomerFactory()
    address = {"line1": "1 Main St", "city": "Paris", "postal_code": "75001", "country": "FR"}
    response = api.patch(f"/api/customers/{customer.pk}/", {"addresses": [address]}, format="json")
    assert response.status_code == 200
    assert response.json()["addresses"][0]["postal_code"] == "75001"


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/inventory/stock/?product=", "product"),
        ("/api/inventory/stock/?max_available=", "max_available"),
        ("/api/orders/?customer=", "customer"),
    ],
)
@pytest.mark.parametrize("value", ["99999999999999999999999", "1.5", "1e400"])
def test_an_id_filter_out_of_range_or_not_whole_is_a_400_naming_it(api, url, parameter, value):
    response = api.get(url + value)
    assert response.status_code == 400, response.content
    assert parameter in response.json()["error"]["fields"]
