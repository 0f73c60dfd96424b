"""The inbox applies catalog events exactly once and in aggregate order (real database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from extracted.catalog.catalog.handlers import HANDLERS
from extracted.catalog.catalog.models import Category, Product
from strangler.contracts.envelope import Envelope, EnvelopeError
from strangler.contracts.registry import ContractViolation, UnknownEventVersion
from strangler.inbox.handlers import is_batch_handler
from strangler.inbox.models import InboxRecord, ProjectionVersion
from strangler.inbox.services import (
    InboxUsageError,
    Outcome,
    UnhandledEventType,
    apply_events,
    parse_event,
)
from strangler.outbox.models import OutboxEvent
from tests.extracted.catalog.conftest import catalog_event, product_data

pytestmark = pytest.mark.django_db

SUBSCRIBER = "catalog-service"


def apply(*envelopes: Envelope) -> list[Outcome]:
    with transaction.atomic():
        results = apply_events(envelopes, subscriber=SUBSCRIBER, handlers=HANDLERS)
    return [r.outcome for r in results]


def test_upsert_creates_the_product_under_the_monolith_id() -> None:
    assert apply(catalog_event("product", "upserted", 41, 1)) == [Outcome.APPLIED]
    product = Product.objects.get(pk=41)
    assert product.sku == "SKU-41"
    assert product.price == Decimal("42.01")
    assert product.updated_at.isoformat() == "2026-01-01T00:00:01+00:00"


def test_replayed_event_is_ignored() -> None:
    event = catalog_event("product", "upserted", 1, 1)
    assert apply(event) == [Outcome.APPLIED]
    Product.objects.filter(pk=1).update(name="changed locally")
    assert apply(event) == [Outcome.DUPLICATE]
    assert Product.objects.get(pk=1).name == "changed locally"
    assert InboxRecord.objects.filter(event_id=event.id).count() == 1


def test_duplicate_within_one_batch_is_applied_once() -> None:
    event = catalog_event("category", "upserted", 5, 1)
    assert apply(event, event) == [Outcome.APPLIED, Outcome.DUPLICATE]


def test_same_event_id_from_another_source_is_a_different_event() -> None:
    first = catalog_event("category", "upserted", 5, 1, event_id="e-1", source="monolith")
    second = catalog_event("category", "upserted", 6, 1, event_id="e-1", source="other")
    assert apply(first, second) == [Outcome.APPLIED, Outcome.APPLIED]


def test_older_or_equal_version_is_skipped_as_stale() -> None:
    newer = catalog_event("product", "upserted", 2, 5)
    older = catalog_event("product", "upserted", 2, 4)
    same = catalog_event("product", "upserted", 2, 5, product_data(2, 5, name="same version"))
    assert apply(newer, older, same) == [Outcome.APPLIED, Outcome.STALE, Outcome.STALE]
    assert Product.objects.get(pk=2).name == "Product 2 v5"
    assert (
        ProjectionVersion.objects.get(projection="catalog.product", aggregate_id="2").version == 5
    )


def test_delete_leaves_a_tombstone_that_a_late_older_upsert_cannot_resurrect() -> None:
    apply(catalog_event("product", "upserted", 3, 1))
    apply(catalog_event("product", "deleted", 3, 3))
    assert not Product.objects.filter(pk=3).exists()
    tombstone = ProjectionVersion.objects.get(projection="catalog.product", aggregate_id="3")
    assert (tombstone.version, tombstone.deleted) == (3, True)

    assert apply(catalog_event("product", "upserted", 3, 2)) == [Outcome.STALE]
    assert not Product.objects.filter(pk=3).exists()


def test_newer_upsert_after_a_delete_brings_the_row_back() -> None:
    apply(catalog_event("category", "upserted", 4, 1), catalog_event("category", "deleted", 4, 2))
    assert apply(catalog_event("category", "upserted", 4, 3)) == [Outcome.APPLIED]
    assert Category.objects.get(pk=4).name == "Category 4 v3"
    assert not ProjectionVersion.objects.get(aggregate_id="4").deleted


def test_delete_of_a_row_never_seen_records_its_tombstone() -> None:
    assert apply(catalog_event("product", "deleted", 9, 7)) == [Outcome.APPLIED]
    assert apply(catalog_event("product", "upserted", 9, 6)) == [Outcome.STALE]
    assert not Product.objects.filter(pk=9).exists()


def test_product_may_arrive_before_its_category() -> None:
    event = catalog_event("product", "upserted", 10, 1, product_data(10, 1, category_id=77))
    assert apply(event) == [Outcome.APPLIED]
    assert Product.objects.get(pk=10).category_id == 77


def test_handler_writes_record_no_outbox_events() -> None:
    apply(catalog_event("product", "upserted", 11, 1))
    assert OutboxEvent.objects.count() == 0


def test_handler_error_rolls_back_the_inbox_record_too() -> None:
    bad = catalog_event("product", "upserted", 12, 1, product_data(12, 1, price="not money"))
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 - any handler error
        apply_events([bad], subscriber=SUBSCRIBER, handlers=HANDLERS)
    assert not InboxRecord.objects.filter(event_id=bad.id).exists()
    assert not ProjectionVersion.objects.filter(aggregate_id="12").exists()


@pytest.mark.django_db(transaction=True)
def test_apply_outside_a_transaction_is_refused() -> None:
    with pytest.raises(InboxUsageError):
        apply_events(
            [catalog_event("product", "upserted", 1, 1)], subscriber=SUBSCRIBER, handlers=HANDLERS
        )


def test_parse_event_validates_against_the_contract() -> None:
    message = catalog_event("product", "upserted", 1, 1, product_data(1, 1, price=3)).to_message()
    with pytest.raises(ContractViolation, match="price"):
        parse_event(message.headers, message.content_type, message.body, HANDLERS)


def test_parse_event_rejects_an_unknown_version() -> None:
    message = catalog_event("product", "upserted", 1, 1).to_message()
    headers = {**message.headers, "ce-dataversion": "99"}
    with pytest.raises(UnknownEventVersion):
        parse_event(headers, message.content_type, message.body, HANDLERS)


def test_parse_event_rejects_a_malformed_message() -> None:
    with pytest.raises(EnvelopeError, match="required CloudEvents attribute"):
        parse_event({"ce-type": "catalog.product.upserted"}, "application/json", b"{}", HANDLERS)
    message = catalog_event("product", "upserted", 1, 1).to_message()
    with pytest.raises(EnvelopeError, match="JSON"):
        parse_event(message.headers, message.content_type, b"{not json", HANDLERS)


def test_parse_event_rejects_a_type_without_handler() -> None:
    message = catalog_event("product", "upserted", 1, 1).to_message()
    with pytest.raises(UnhandledEventType, match=r"catalog\.product\.upserted"):
        parse_event(message.headers, message.content_type, message.body, handlers={})


def test_catalog_handlers_are_batch_handlers() -> None:
    assert all(is_batch_handler(handler) for handler in HANDLERS.values())
