"""The catalog service's API under schemathesis: no request, valid or not, gets a 5xx or an
answer its schema does not document; nothing schema-valid is refused."""

from __future__ import annotations

import pytest
from django.db import transaction

from extracted.catalog.catalog.handlers import HANDLERS
from strangler.inbox.services import apply_events
from tests.extracted.catalog.conftest import catalog_event, category_data, product_data
from tests.identity import staff_token
from tests.schema_fuzz import fuzz, operation_labels, valid_rows

pytestmark = pytest.mark.django_db

OPERATIONS = operation_labels(exclude=r"^/(internal|api/auth)/")


@pytest.fixture
def rows() -> dict[str, int]:
    """Two categories and a product, applied through the inbox as in production."""
    events = [
        catalog_event("category", "upserted", 1, 1, category_data(1, 1, name="Tools")),
        catalog_event("category", "upserted", 2, 1, category_data(2, 1, name="Garden")),
        catalog_event("product", "upserted", 1, 1, product_data(1, 1, category_id=1)),
    ]
    with transaction.atomic():
        apply_events(events, subscriber="catalog-service", handlers=HANDLERS)
    return {"category_id": 1, "product_id": 1}


# Schema-valid bodies name rows that exist (a parent other than the category itself) and take
# values no row has yet.
KNOWN_ROWS = {"parent": 2, "category": 1}
FRESH = {"sku": lambda n: f"FUZZ-{n}", "slug": lambda n: f"fuzz-{n}"}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_catalog_service_answers_every_request_as_its_schema_says(operation, rows):
    headers = {"Authorization": f"Bearer {staff_token(apps=('catalog',))}"}
    fuzz(operation, headers, rows, prepare=valid_rows(KNOWN_ROWS, FRESH))
