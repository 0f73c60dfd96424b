"""The monolith's API under schemathesis: nothing it is sent, valid or not, makes it answer 5xx
or anything its schema does not document; nothing schema-valid is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.identity import token_of
from tests.monolith.factories import (
    AddressFactory,
    CategoryFactory,
    OrderLineFactory,
    StockItemFactory,
)
from tests.schema_fuzz import fuzz, operation_labels, valid_rows

pytestmark = pytest.mark.django_db

# The internal APIs serve peers (their bad input has tests of its own: test_internal_bad_input);
# the token endpoint issues tokens and is tested with real credentials.
OPERATIONS = operation_labels(exclude=r"^/(internal|api/auth)/")


@pytest.fixture
def rows() -> dict[str, Any]:
    """One row of each kind, so detail operations reach their validation rather than a 404."""
    line = OrderLineFactory()
    address = AddressFactory()
    stock = StockItemFactory()
    return {
        "category_id": CategoryFactory().pk,
        "parent_id": CategoryFactory().pk,  # not category_id: a category cannot parent itself
        "product_id": stock.product_id,
        "sku": stock.product.sku,
        "stock_id": stock.pk,
        "customer_id": address.customer_id,
        "order_id": line.order_id,
    }


def known_rows(rows: dict[str, Any]) -> Callable[[Any], None]:
    """Schema-valid bodies name rows that exist and take values no row has; rules across a
    list's items that a schema cannot say hold too: a customer has one default address at most,
    an order names each product once (one known product: one line)."""
    pin = valid_rows(
        {
            "parent": rows["parent_id"],
            "category": rows["category_id"],
            "customer": rows["customer_id"],
            "product": rows["product_id"],
        },
        {
            "sku": lambda n: f"FUZZ-{n}",
            "slug": lambda n: f"fuzz-{n}",
            "email": lambda n: f"fuzz-{n}@example.com",
        },
        per_operation={"POST /api/inventory/stock/adjust/": {"sku": rows["sku"]}},
    )

    def prepare(case: Any) -> None:
        pin(case)
        if not isinstance(case.body, dict):
            return
        if isinstance(case.body.get("lines"), list):
            case.body["lines"] = case.body["lines"][:1]
        addresses = case.body.get("addresses")
        for index, address in enumerate(addresses or []):
            if isinstance(address, dict) and index > 0 and "is_default" in address:
                address["is_default"] = False

    return prepare


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_monolith_answers_every_request_as_its_schema_says(operation, staff_user, rows):
    headers = {"Authorization": f"Bearer {token_of(staff_user)}"}
    fuzz(operation, headers, rows, prepare=known_rows(rows))
