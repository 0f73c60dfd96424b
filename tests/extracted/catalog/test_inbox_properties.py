"""Property: duplicated, reordered and replayed deliveries end in the in-order state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extracted.catalog.catalog.handlers import HANDLERS
from extracted.catalog.catalog.models import Category, Product
from strangler.contracts.envelope import Envelope
from strangler.inbox.models import InboxRecord, ProjectionVersion
from strangler.inbox.services import apply_events
from tests.extracted.catalog.conftest import catalog_event, category_data, product_data

SUBSCRIBER = "catalog-service"


@st.composite
def aggregate_history(draw: st.DrawFn, aggregate: str, aggregate_id: int) -> list[Envelope]:
    """One aggregate's events in version order: upserts and deletes, versions with gaps."""
    steps = draw(
        st.lists(st.sampled_from(["upserted", "upserted", "deleted"]), min_size=1, max_size=6)
    )
    version = 0
    history = []
    for verb in steps:
        version += draw(st.integers(min_value=1, max_value=3))  # other events of it leave gaps
        if verb == "deleted":
            data = {"id": aggregate_id}
        elif aggregate == "product":
            data = product_data(
                aggregate_id, version, category_id=draw(st.none() | st.integers(1, 3))
            )
        else:
            data = category_data(
                aggregate_id, version, parent_id=draw(st.none() | st.integers(1, 3))
            )
        history.append(catalog_event(aggregate, verb, aggregate_id, version, data))
    return history


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[list[Envelope]], list[list[Envelope]]]:
    """(histories in order, the batches the broker delivered them in)."""
    histories = [
        draw(aggregate_history("product", pid)) for pid in range(1, draw(st.integers(1, 4)) + 1)
    ]
    histories += [
        draw(aggregate_history("category", cid)) for cid in range(1, draw(st.integers(0, 3)) + 1)
    ]
    events = [event for history in histories for event in history]
    duplicates = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    stream = draw(st.permutations(events + duplicates))
    if draw(st.booleans()):
        stream += draw(st.permutations(events))  # a replay of the whole history, in any order
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    batches = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return histories, [batch for batch in batches if batch]


def expected_row(history: list[Envelope]) -> dict[str, Any] | None:
    """The state after applying the history once, in order: the last event wins."""
    last = history[-1]
    return None if last.type.endswith(".deleted") else dict(last.data)


def product_row(product: Product) -> dict[str, Any]:
    return {
        "id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price": f"{Decimal(product.price):.2f}",
        "currency": product.currency,
        "category_id": product.category_id,
        "active": product.active,
        "created_at": product.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": product.updated_at.isoformat().replace("+00:00", "Z"),
    }


def category_row(category: Category) -> dict[str, Any]:
    return {
        "id": category.pk,
        "name": category.name,
        "slug": category.slug,
        "parent_id": category.parent_id,
    }


@pytest.mark.django_db
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries())
def test_any_interleaving_converges_to_applying_each_event_once_in_order(case: Any) -> None:
    histories, batches = case
    with transaction.atomic():
        # Each example starts from empty tables (the test's transaction spans all examples).
        for model in (Product, Category, InboxRecord, ProjectionVersion):
            model.objects.all().delete()
    for batch in batches:
        with transaction.atomic():
            apply_events(batch, subscriber=SUBSCRIBER, handlers=HANDLERS)

    for history in histories:
        first = history[0]
        aggregate_id = int(first.subject)
        if first.type.startswith("catalog.product."):
            rows = [product_row(p) for p in Product.objects.filter(pk=aggregate_id)]
        else:
            rows = [category_row(c) for c in Category.objects.filter(pk=aggregate_id)]
        wanted = expected_row(history)
        assert rows == ([] if wanted is None else [wanted]), first.type
        version = ProjectionVersion.objects.get(
            projection=first.aggregate_type, aggregate_id=str(aggregate_id)
        )
        assert version.version == history[-1].aggregateversion
        assert version.deleted == history[-1].type.endswith(".deleted")
    distinct = {event.id for history in histories for event in history}
    assert InboxRecord.objects.count() == len(distinct)
    # Every event is recorded once; those overtaken by a newer version are marked stale.
    applied = set(InboxRecord.objects.filter(outcome="applied").values_list("event_id", flat=True))
    for history in histories:
        assert history[-1].id in applied
