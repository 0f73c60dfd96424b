"""The monolith's API under schemathesis: nothing it is sent, valid or not, makes it answer 5xx."""

from __future__ import annotations

import pytest

from tests.identity import token_of
from tests.monolith.factories import (
    AddressFactory,
    CategoryFactory,
    OrderLineFactory,
    StockItemFactory,
)
from tests.schema_fuzz import fuzz, operation_labels

pytestmark = pytest.mark.django_db

# The internal APIs serve peers (their bad input has tests of its own: test_internal_bad_input);
# the token endpoint issues tokens and is tested with real credentials.
OPERATIONS = operation_labels(exclude=r"^/(internal|api/auth)/")


@pytest.fixture
def rows() -> dict[str, int]:
    """One row of each kind, so detail operations reach their validation rather than a 404."""
    line = OrderLineFactory()
    address = AddressFactory()
    stock = StockItemFactory()
    return {
        "category_id": CategoryFactory().pk,
        "product_id": stock.product_id,
        "stock_id": stock.pk,
        "customer_id": address.customer_id,
        "order_id": line.order_id,
    }


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_request_makes_the_monolith_answer_5xx(operation, staff_user, rows):
    fuzz(operation, {"Authorization": f"Bearer {token_of(staff_user)}"}, rows)
