"""The catalog service's API under schemathesis: no request, valid or not, gets a 5xx."""

from __future__ import annotations

import pytest
from django.db import transaction

from extracted.catalog.catalog.handlers import HANDLERS
from strangler.inbox.services import apply_events
from tests.extracted.catalog.conftest import catalog_event, category_data, product_data
from tests.identity import staff_token
from tests.schema_fuzz import fuzz, operation_labels

pytestmark = pytest.mark.django_db

OPERATIONS = operation_labels(exclude=r"^/(internal|api/auth)/")


@pytest.fixture
def rows() -> dict[str, int]:
    """A category and a product, applied through the inbox as in production."""
    events = [
        catalog_event("category", "upserted", 1, 1, category_data(1, 1, name="Tools")),
        catalog_event("product", "upserted", 1, 1, product_data(1, 1, category_id=1)),
    ]
    with transaction.atomic():
        apply_events(events, subscriber="catalog-service", handlers=HANDLERS)
    return {"category_id": 1, "product_id": 1}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_request_makes_the_catalog_service_answer_5xx(operation, rows):
    fuzz(operation, {"Authorization": f"Bearer {staff_token(apps=('catalog',))}"}, rows)
