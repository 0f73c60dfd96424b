"""Every list endpoint runs a fixed number of queries, whatever the page size."""

from __future__ import annotations

import pytest

from monolith.inventory.models import StockAdjustment
from tests.monolith.factories import (
    AddressFactory,
    CategoryFactory,
    OrderLineFactory,
    StockItemFactory,
)

pytestmark = pytest.mark.django_db

ROWS = 60


@pytest.fixture
def many_rows():
    parent = CategoryFactory()
    stocks = StockItemFactory.create_batch(ROWS, product__category=parent)
    for _ in range(ROWS):
        AddressFactory.create_batch(2, customer=AddressFactory().customer)
        OrderLineFactory.create_batch(2, order=OrderLineFactory().order)
    CategoryFactory.create_batch(ROWS, parent=parent)
    StockAdjustment.objects.bulk_create(
        StockAdjustment(stock_item=stocks[0], delta=1, reason="count", on_hand_after=i)
        for i in range(ROWS)
    )
    return {"stock": stocks[0]}


# (url, queries): count + page, plus one per prefetched relation (or the parent lookup).
LISTS = [
    ("/api/catalog/products/", 2),
    ("/api/catalog/categories/", 2),
    ("/api/inventory/stock/", 2),
    ("/api/inventory/stock/{stock}/adjustments/", 3),
    ("/api/customers/", 3),
    ("/api/orders/", 3),
]


@pytest.mark.parametrize("page_size", [1, 50])
@pytest.mark.parametrize(("url", "queries"), LISTS, ids=[url for url, _ in LISTS])
def test_list_query_count_does_not_grow_with_the_page(
    api, many_rows, django_assert_num_queries, url, queries, page_size
):
    url = url.format(stock=many_rows["stock"].pk)
    with django_assert_num_queries(queries):
        response = api.get(url, {"page_size": page_size})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] >= ROWS
    assert len(body["results"]) == min(page_size, body["count"])
