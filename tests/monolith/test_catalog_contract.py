"""The monolith's side of the catalog's contract answers (tests/contract_answers.py): the catalog
service's tests hold it to the same statuses and bodies."""

from __future__ import annotations

import pytest

from tests.contract_answers import not_found, product_in_use
from tests.monolith.factories import OrderLineFactory, ProductFactory, StockItemFactory

pytestmark = pytest.mark.django_db


def answer(response):  # type: ignore[no-untyped-def]
    return response.status_code, response.json()


@pytest.mark.parametrize("referrer", ["order line", "stock item"])
def test_deleting_a_referenced_product_is_refused(api, referrer) -> None:  # type: ignore[no-untyped-def]
    product = ProductFactory()
    if referrer == "order line":
        OrderLineFactory(product=product)
    else:
        StockItemFactory(product=product)

    response = api.delete(f"/api/catalog/products/{product.pk}/")

    assert answer(response) == product_in_use(product.pk)


def test_a_missing_product_is_the_same_404(api) -> None:  # type: ignore[no-untyped-def]
    assert answer(api.get("/api/catalog/products/999999/")) == not_found()
    assert answer(api.delete("/api/catalog/products/999999/")) == not_found()
