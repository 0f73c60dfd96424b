"""The service's catalog API: the monolith's paths, fields, filters, pagination and error shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from extracted.catalog.catalog.handlers import HANDLERS
from extracted.catalog.catalog.models import Product
from strangler.inbox.services import apply_events
from strangler.outbox.models import OutboxEvent
from strangler.ownership.services import set_writer
from tests.extracted.catalog.conftest import catalog_event, category_data, product_data
from tests.identity import staff_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    """A staff client with the catalog's model permissions, as the monolith's token gives it."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(apps=('catalog',))}")
    return client


@pytest.fixture
def seeded() -> None:
    """Two categories and five products, applied through the inbox like in production."""
    events = [
        catalog_event("category", "upserted", 1, 1, category_data(1, 1, name="Tools")),
        catalog_event("category", "upserted", 2, 1, category_data(2, 1, parent_id=1)),
    ]
    prices = ["5.00", "12.50", "99.99", "150.00", "7.25"]
    for pid, price in enumerate(prices, start=1):
        data = product_data(
            pid,
            1,
            price=price,
            name=f"Hammer {pid}" if pid % 2 else f"Saw {pid}",
            category_id=1 if pid <= 3 else 2,
            currency="EUR" if pid != 5 else "USD",
            active=pid != 4,
        )
        events.append(catalog_event("product", "upserted", pid, 1, data))
    with transaction.atomic():
        apply_events(events, subscriber="catalog-service", handlers=HANDLERS)


def ids(response: Any) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


def test_product_detail_renders_the_monolith_fields(api: APIClient, seeded: None) -> None:
    body = api.get("/api/catalog/products/1/").json()
    assert body == {
        "id": 1,
        "sku": "SKU-1",
        "name": "Hammer 1",
        "description": "revision 1",
        "price": "5.00",
        "currency": "EUR",
        "category": 1,
        "active": True,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:01Z",
    }


def test_category_detail_renders_parent_id(api: APIClient, seeded: None) -> None:
    assert api.get("/api/catalog/categories/2/").json() == {
        "id": 2,
        "name": "Category 2 v1",
        "slug": "category-2",
        "parent": 1,
    }


def test_lists_are_paginated_like_the_monolith(api: APIClient, seeded: None) -> None:
    body = api.get("/api/catalog/products/?page_size=2&page=2").json()
    assert body["count"] == 5
    assert [p["id"] for p in body["results"]] == [3, 4]
    assert body["next"].endswith("/api/catalog/products/?page=3&page_size=2")
    assert body["previous"].endswith("/api/catalog/products/?page_size=2")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=2", [4, 5]),
        ("active=false", [4]),
        ("currency=usd", [5]),
        ("min_price=10&max_price=100", [2, 3]),
        ("search=hammer", [1, 3, 5]),
        ("ordering=-price", [4, 3, 2, 5, 1]),
    ],
)
def test_product_filters_search_and_ordering(
    api: APIClient, seeded: None, query: str, expected: list[int]
) -> None:
    assert ids(api.get(f"/api/catalog/products/?{query}")) == expected


def test_category_filters(api: APIClient, seeded: None) -> None:
    assert ids(api.get("/api/catalog/categories/?root=true")) == [1]
    assert ids(api.get("/api/catalog/categories/?parent=1")) == [2]


def test_missing_product_has_the_shared_error_shape(api: APIClient) -> None:
    response = api.get("/api/catalog/products/404/")
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_invalid_filter_has_the_shared_validation_shape(api: APIClient, seeded: None) -> None:
    response = api.get("/api/catalog/products/?category=tools")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "category" in response.json()["error"]["fields"]


def test_an_id_no_row_has_filters_to_nothing(api: APIClient, seeded: None) -> None:
    assert ids(api.get("/api/catalog/products/?category=999")) == []


WRITES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "post",
        "/api/catalog/products/",
        {"sku": "N-1", "name": "n", "price": "1.00", "currency": "EUR"},
    ),
    ("patch", "/api/catalog/products/1/", {"name": "renamed"}),
    ("delete", "/api/catalog/products/1/", {}),
    ("post", "/api/catalog/categories/", {"name": "New", "slug": "new"}),
    ("put", "/api/catalog/categories/1/", {"name": "Tools", "slug": "tools"}),
    ("delete", "/api/catalog/categories/2/", {}),
]


@pytest.mark.parametrize(("method", "path", "payload"), WRITES)
def test_writes_are_refused_while_the_monolith_owns_the_catalog(
    api: APIClient, seeded: None, method: str, path: str, payload: dict[str, Any]
) -> None:
    call: Callable[..., Any] = getattr(api, method)
    response = call(path, payload, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "writes_owned_elsewhere",
            "message": "writes for catalog are owned by monolith; catalog-service refuses "
            "them. Send the write to monolith (or cut the context over with `manage.py cutover "
            "catalog`).",
            "fields": {},
        }
    }
    assert Product.objects.get(pk=1).name == "Hammer 1"
    assert OutboxEvent.objects.count() == 0


def test_after_cutover_writes_are_applied_and_recorded(api: APIClient, seeded: None) -> None:
    set_writer("catalog", "service")
    response = api.patch("/api/catalog/products/1/", {"name": "renamed"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "renamed"
    (event,) = OutboxEvent.objects.all()
    assert (event.event_type, event.subject, event.source) == (
        "catalog.product.upserted",
        "1",
        "catalog-service",
    )
    assert event.data["name"] == "renamed"


def test_probes_and_metrics(api: APIClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ok"}
    metrics = api.get("/metrics").content.decode()
    assert "strangler_inbox_events_total" in metrics
    assert "strangler_inbox_lag_seconds" in metrics


# --- identity: the monolith's tokens, verified here with its public key alone -----------------


@pytest.fixture
def verifier_only(settings: Any, identity_environment: dict[str, str]) -> dict[str, str]:
    """This side as deployed: the issuer's public keys, no private key of its own; the tokens
    the monolith issued before (catalog staff, orders staff)."""
    tokens = {"catalog": staff_token(apps=("catalog",)), "orders": staff_token(apps=("orders",))}
    settings.STRANGLER_IDENTITY = {
        "ISSUER": "monolith",
        "VERIFYING_KEYS": [identity_environment["STRANGLER_IDENTITY_VERIFYING_KEYS"]],
    }
    return tokens


@pytest.mark.parametrize(("method", "path", "payload"), WRITES)
def test_anonymous_writes_are_401_before_ownership_is_asked(
    seeded: None, method: str, path: str, payload: dict[str, Any]
) -> None:
    set_writer("catalog", "service")
    response = getattr(APIClient(), method)(path, payload, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_monolith_token_is_accepted_with_the_public_key_alone(
    seeded: None, verifier_only: dict[str, str]
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {verifier_only['catalog']}")
    set_writer("catalog", "service")
    response = client.patch("/api/catalog/products/1/", {"name": "renamed"}, format="json")
    assert response.status_code == 200, response.content


def test_a_user_without_catalog_permissions_is_403(
    seeded: None, verifier_only: dict[str, str]
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {verifier_only['orders']}")
    set_writer("catalog", "service")
    response = client.patch("/api/catalog/products/1/", {"name": "renamed"}, format="json")
    assert response.status_code == 403


def test_a_token_signed_with_another_key_is_401(seeded: None, tmp_path: Any) -> None:
    import jwt
    from cryptography.hazmat.primitives import serialization

    from strangler.identity.keys import generate_key_pair
    from strangler.identity.tokens import ALGORITHM

    pair = generate_key_pair()
    key = serialization.load_pem_private_key(pair.private_pem, password=None)
    forged = jwt.encode(
        {"iss": "monolith", "aud": "strangler", "sub": "1", "iat": 0, "exp": 2**40,
         "is_staff": True, "is_superuser": True},
        key,
        algorithm=ALGORITHM,
        headers={"kid": pair.kid},
    )  # fmt: skip
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    response = client.patch("/api/catalog/products/1/", {"name": "forged"}, format="json")
    assert response.status_code == 401
    assert "unknown signing key" in response.content.decode()
