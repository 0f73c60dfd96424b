"""Catalog: services, selectors and the /api/catalog/ endpoints, every validation path included."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from monolith.catalog import selectors, services
from monolith.catalog.models import Category, Product
from tests.monolith.factories import (
    CategoryFactory,
    OrderLineFactory,
    ProductFactory,
    StockItemFactory,
)

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/catalog/products/"
CATEGORIES = "/api/catalog/categories/"


def product_body(**overrides):
    body = {
        "sku": "HAM-1",
        "name": "Hammer",
        "description": "Drives nails.",
        "price": "12.50",
        "currency": "EUR",
        "category": None,
        "active": True,
    }
    body.update(overrides)
    return body


def assert_invalid(response, *fields):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    for field in fields:
        assert field in error["fields"], error


# --- services and selectors ---------------------------------------------------------------


def test_product_create_stores_the_product_and_records_its_snapshot(outbox):
    category = CategoryFactory()
    product = services.product_create(
        sku="A-1", name="Axe", price=Decimal("30"), currency="EUR", category=category
    )
    assert Product.objects.get(sku="A-1").price == Decimal("30.00")
    event = outbox.last("catalog.product.upserted")
    assert event.subject == str(product.pk)
    assert event.data["price"] == "30.00"
    assert event.data["category_id"] == category.pk


def test_product_create_rejects_a_duplicate_sku():
    ProductFactory(sku="DUP")
    with pytest.raises(ValidationError) as info:
        services.product_create(sku="DUP", name="x", price=Decimal("1"), currency="EUR")
    assert "sku" in info.value.message_dict


def test_product_update_changes_only_given_fields():
    product = ProductFactory(name="Old", price=Decimal("5.00"))
    services.product_update(product=product, changes={"name": "New"})
    product.refresh_from_db()
    assert (product.name, product.price) == ("New", Decimal("5.00"))


def test_product_update_refuses_unknown_fields():
    with pytest.raises(ValueError, match="not updatable: id"):
        services.product_update(product=ProductFactory(), changes={"id": 3})


def test_product_delete_of_an_unused_product_records_deleted(outbox):
    product = ProductFactory()
    pk = product.pk
    services.product_delete(product=product)
    assert not Product.objects.filter(pk=pk).exists()
    assert outbox.last("catalog.product.deleted").data == {"id": pk}


@pytest.mark.parametrize("reference", ["stock", "order line"])
def test_product_delete_is_refused_while_referenced(reference):
    product = ProductFactory()
    if reference == "stock":
        StockItemFactory(product=product)
    else:
        OrderLineFactory(product=product)
    with pytest.raises(services.ProductInUse, match="deactivate"):
        services.product_delete(product=product)
    assert Product.objects.filter(pk=product.pk).exists()


def test_category_cannot_become_its_own_ancestor():
    root = CategoryFactory()
    child = CategoryFactory(parent=root)
    with pytest.raises(ValidationError, match="own ancestor"):
        services.category_update(category=root, changes={"parent": child})


def test_category_delete_is_refused_while_it_has_children_or_products():
    parent = CategoryFactory()
    CategoryFactory(parent=parent)
    with pytest.raises(services.CategoryInUse):
        services.category_delete(category=parent)
    with_products = ProductFactory().category
    with pytest.raises(services.CategoryInUse):
        services.category_delete(category=with_products)


def test_product_list_selector_is_in_id_order():
    second, first = ProductFactory(sku="B"), ProductFactory(sku="A")
    assert list(selectors.product_list()) == [second, first]


# --- product API ---------------------------------------------------------------------------


def test_create_product_returns_201_with_the_stored_product(api):
    category = CategoryFactory()
    response = api.post(PRODUCTS, product_body(category=category.pk), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sku"] == "HAM-1"
    assert body["price"] == "12.50"
    assert body["category"] == category.pk
    assert Product.objects.filter(pk=body["id"]).exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sku": ""}, "sku"),
        ({"sku": "x" * 65}, "sku"),
        ({"name": ""}, "name"),
        ({"price": "-1.00"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "1.234"}, "price"),
        ({"price": "12345678901.00"}, "price"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"category": 999999}, "category"),
        ({"active": "maybe"}, "active"),
    ],
)
def test_create_product_rejects_invalid_fields(api, overrides, field):
    assert_invalid(api.post(PRODUCTS, product_body(**overrides), format="json"), field)


def test_create_product_requires_sku_name_price_currency(api):
    assert_invalid(api.post(PRODUCTS, {}, format="json"), "sku", "name", "price", "currency")


def test_create_product_with_taken_sku_is_invalid(api):
    ProductFactory(sku="HAM-1")
    assert_invalid(api.post(PRODUCTS, product_body(), format="json"), "sku")


def test_get_product_and_404_for_a_missing_one(api):
    product = ProductFactory()
    assert api.get(f"{PRODUCTS}{product.pk}/").json()["sku"] == product.sku
    response = api.get(f"{PRODUCTS}{product.pk + 1000}/")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_put_replaces_the_product_and_resets_omitted_optional_fields(api):
    product = ProductFactory(description="old text", active=False)
    body = product_body(sku=product.sku)
    del body["description"], body["active"]
    response = api.put(f"{PRODUCTS}{product.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    product.refresh_from_db()
    assert (product.name, product.description, product.active) == ("Hammer", "", True)


def test_put_requires_every_required_field(api):
    product = ProductFactory()
    assert_invalid(api.put(f"{PRODUCTS}{product.pk}/", {"name": "x"}, format="json"), "sku")


def test_patch_changes_only_the_given_fields(api):
    product = ProductFactory(price=Decimal("3.00"))
    response = api.patch(f"{PRODUCTS}{product.pk}/", {"active": False}, format="json")
    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.active, product.price) == (False, Decimal("3.00"))


def test_patch_validates_what_it_gets(api):
    product = ProductFactory()
    assert_invalid(api.patch(f"{PRODUCTS}{product.pk}/", {"price": "-5"}, format="json"), "price")


def test_patch_to_a_taken_sku_is_invalid(api):
    ProductFactory(sku="TAKEN")
    product = ProductFactory()
    response = api.patch(f"{PRODUCTS}{product.pk}/", {"sku": "TAKEN"}, format="json")
    assert_invalid(response, "sku")


def test_delete_product_returns_204(api):
    product = ProductFactory()
    assert api.delete(f"{PRODUCTS}{product.pk}/").status_code == 204
    assert not Product.objects.filter(pk=product.pk).exists()


def test_delete_product_in_use_is_a_409_conflict(api):
    stock = StockItemFactory()
    response = api.delete(f"{PRODUCTS}{stock.product.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "product_in_use"


def test_update_and_delete_of_a_missing_product_are_404(api):
    assert api.put(f"{PRODUCTS}424242/", product_body(), format="json").status_code == 404
    assert api.patch(f"{PRODUCTS}424242/", {}, format="json").status_code == 404
    assert api.delete(f"{PRODUCTS}424242/").status_code == 404


def skus(response):
    assert response.status_code == 200, response.content
    return [item["sku"] for item in response.json()["results"]]


def test_product_list_is_paginated(api):
    ProductFactory.create_batch(5)
    body = api.get(PRODUCTS, {"page_size": 2, "page": 2}).json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] and body["previous"]


def test_pagination_links_name_the_host_the_gateway_was_asked_for(api):
    """Behind the gateway, links must lead back through it, not to the backend's own address."""
    ProductFactory.create_batch(3)
    body = api.get(
        PRODUCTS, {"page_size": 1}, HTTP_HOST="127.0.0.1:8001", HTTP_X_FORWARDED_HOST="localhost"
    ).json()
    assert body["next"].startswith("http://localhost/api/catalog/products/")


def test_product_list_searches_name_sku_and_description(api):
    ProductFactory(sku="S-1", name="Red kettle", description="")
    ProductFactory(sku="KET-2", name="Pot", description="")
    ProductFactory(sku="S-3", name="Pan", description="Not a kettle at all")
    ProductFactory(sku="S-4", name="Lamp", description="")
    assert skus(api.get(PRODUCTS, {"search": "ket"})) == ["S-1", "KET-2", "S-3"]


def test_product_list_filters_by_category_active_currency_and_price(api):
    tools = CategoryFactory()
    ProductFactory(sku="A", category=tools, price=Decimal("5.00"))
    ProductFactory(sku="B", category=tools, price=Decimal("50.00"), active=False)
    ProductFactory(sku="C", price=Decimal("20.00"), currency="USD")
    assert skus(api.get(PRODUCTS, {"category": tools.pk})) == ["A", "B"]
    assert skus(api.get(PRODUCTS, {"active": "false"})) == ["B"]
    assert skus(api.get(PRODUCTS, {"currency": "usd"})) == ["C"]
    assert skus(api.get(PRODUCTS, {"min_price": "10", "max_price": "30"})) == ["C"]


def test_product_list_orders_by_price_descending(api):
    ProductFactory(sku="cheap", price=Decimal("1.00"))
    ProductFactory(sku="dear", price=Decimal("99.00"))
    assert skus(api.get(PRODUCTS, {"ordering": "-price"})) == ["dear", "cheap"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"category": "tools"}, "category"),
        ({"category": str(2**63)}, "category"),
        ({"min_price": "cheap"}, "min_price"),
        ({"active": "perhaps"}, "active"),
    ],
)
def test_product_list_rejects_bad_filters(api, params, field):
    assert_invalid(api.get(PRODUCTS, params), field)


def test_a_category_no_row_has_filters_to_nothing(api):
    ProductFactory()
    response = api.get(PRODUCTS, {"category": "999999"})
    assert response.status_code == 200 and response.json()["results"] == []


def test_product_list_rejects_a_page_past_the_end(api):
    response = api.get(PRODUCTS, {"page": 5})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- category API --------------------------------------------------------------------------


def test_category_crud_over_the_api(api):
    created = api.post(CATEGORIES, {"name": "Tools", "slug": "tools"}, format="json")
    assert created.status_code == 201, created.content
    root = created.json()["id"]
    child = api.post(
        CATEGORIES, {"name": "Saws", "slug": "saws", "parent": root}, format="json"
    ).json()
    assert child["parent"] == root
    assert api.get(f"{CATEGORIES}{child['id']}/").json()["slug"] == "saws"
    patched = api.patch(f"{CATEGORIES}{child['id']}/", {"name": "Hand saws"}, format="json")
    assert patched.json()["name"] == "Hand saws"
    replaced = api.put(
        f"{CATEGORIES}{child['id']}/", {"name": "Saws", "slug": "all-saws"}, format="json"
    )
    assert replaced.json() == {
        "id": child["id"],
        "name": "Saws",
        "slug": "all-saws",
        "parent": None,
    }
    assert api.delete(f"{CATEGORIES}{child['id']}/").status_code == 204
    assert not Category.objects.filter(pk=child["id"]).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "x"}, "name"),
        ({"name": "x"}, "slug"),
        ({"name": "x", "slug": "not a slug"}, "slug"),
        ({"name": "x", "slug": "x", "parent": 999999}, "parent"),
    ],
)
def test_create_category_rejects_invalid_fields(api, body, field):
    assert_invalid(api.post(CATEGORIES, body, format="json"), field)


def test_create_category_with_taken_slug_is_invalid(api):
    CategoryFactory(slug="tools")
    assert_invalid(api.post(CATEGORIES, {"name": "T", "slug": "tools"}, format="json"), "slug")


def test_moving_a_category_below_its_child_is_invalid(api):
    root = CategoryFactory()
    child = CategoryFactory(parent=root)
    response = api.patch(f"{CATEGORIES}{root.pk}/", {"parent": child.pk}, format="json")
    assert_invalid(response, "parent")


def test_deleting_a_category_with_products_is_a_409_conflict(api):
    product = ProductFactory()
    response = api.delete(f"{CATEGORIES}{product.category.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "category_in_use"


def test_category_list_filters_roots_and_children(api):
    root = CategoryFactory(slug="root")
    CategoryFactory(slug="child", parent=root)
    roots = api.get(CATEGORIES, {"root": "true"}).json()["results"]
    children = api.get(CATEGORIES, {"parent": root.pk}).json()["results"]
    assert [c["slug"] for c in roots] == ["root"]
    assert [c["slug"] for c in children] == ["child"]
    assert api.get(f"{CATEGORIES}999999/").status_code == 404
