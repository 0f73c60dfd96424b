"""Batch handlers: one call per run of consecutive events of a type, only the events to apply."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from monolith.catalog.handlers import HANDLERS
from monolith.catalog.models import Product
from strangler.contracts.envelope import Envelope
from strangler.inbox.handlers import batch_handler, is_batch_handler, newest_per_key
from strangler.inbox.models import ProjectionVersion
from strangler.inbox.services import Outcome, apply_events
from strangler.ownership.conf import this_side
from strangler.ownership.echo import foreign_events_only

pytestmark = pytest.mark.django_db(databases=["default", "control"])


def event(verb: str, key: int, version: int, **changes: Any) -> Envelope:
    data: dict[str, Any] = {"id": key}
    if verb == "upserted":
        data = {
            "id": key,
            "sku": f"S-{key}",
            "name": f"Product {key} v{version}",
            "description": "",
            "price": "10.00",
            "currency": "EUR",
            "category_id": None,
            "active": True,
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": f"2026-02-0{min(version, 9)}T00:00:00Z",
            **changes,
        }
    return Envelope(
        id=str(uuid.uuid4()),
        source="catalog-service",
        type=f"catalog.product.{verb}",
        data=data,
        subject=str(key),
        time=datetime.now(UTC),
        dataversion=1,
        aggregateversion=version,
        correlationid="corr-1",
    )


class Recorder:
    """The monolith's registry with every call recorded as (event type, [(id, version), ...])."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[int, int]]]] = []
        self.handlers = {t: self._recording(t, h) for t, h in HANDLERS.items()}

    def _recording(self, event_type: str, handler: Any) -> Any:
        @batch_handler
        def record(events: list[Envelope]) -> None:
            self.calls.append((event_type, [(e.data["id"], e.aggregateversion) for e in events]))
            handler(events)

        return record


def apply(handlers: Any, *envelopes: Envelope) -> list[Outcome]:
    with transaction.atomic():
        results = apply_events(list(envelopes), subscriber="monolith", handlers=handlers)
    return [r.outcome for r in results]


def test_reverse_sync_handlers_are_batch_handlers() -> None:
    assert all(is_batch_handler(h) for h in HANDLERS.values())


def test_batch_handler_is_called_once_per_run_of_its_type_in_delivery_order() -> None:
    recorder = Recorder()
    outcomes = apply(
        recorder.handlers,
        event("upserted", 1, 1),
        event("upserted", 2, 1),
        event("deleted", 1, 2),
        event("upserted", 1, 3, name="back again"),
        event("upserted", 3, 1),
    )

    assert outcomes == [Outcome.APPLIED] * 5
    assert recorder.calls == [
        ("catalog.product.upserted", [(1, 1), (2, 1)]),
        ("catalog.product.deleted", [(1, 2)]),
        ("catalog.product.upserted", [(1, 3), (3, 1)]),
    ]
    assert Product.objects.get(pk=1).name == "back again"  # the upsert after the delete won
    assert sorted(Product.objects.values_list("pk", flat=True)) == [1, 2, 3]


def test_batch_handler_never_sees_duplicates_or_stale_versions() -> None:
    recorder = Recorder()
    first = event("upserted", 1, 5)
    apply(recorder.handlers, first)
    recorder.calls.clear()

    outcomes = apply(
        recorder.handlers,
        first,  # replayed
        event("upserted", 1, 4),  # older than what is applied
        event("upserted", 2, 1),
        event("upserted", 1, 6),
    )

    assert outcomes == [Outcome.DUPLICATE, Outcome.STALE, Outcome.APPLIED, Outcome.APPLIED]
    assert recorder.calls == [("catalog.product.upserted", [(2, 1), (1, 6)])]


def test_newest_snapshot_per_aggregate_wins_within_one_run() -> None:
    apply(
        HANDLERS,
        event("upserted", 7, 1, price="1.00"),
        event("upserted", 7, 2, price="2.00"),
        event("upserted", 7, 3, price="3.00"),
    )

    row = Product.objects.get(pk=7)
    assert row.price == Decimal("3.00")
    # auto_now would have stamped the time of the apply; the service's timestamp is kept.
    assert row.updated_at == datetime(2026, 2, 3, tzinfo=UTC)
    assert (
        ProjectionVersion.objects.get(projection="catalog.product", aggregate_id="7").version == 3
    )


def test_versions_of_a_batch_are_written_in_one_upsert_over_existing_and_new_rows() -> None:
    apply(HANDLERS, event("upserted", 1, 1))
    apply(HANDLERS, event("deleted", 1, 2), event("upserted", 2, 4))

    versions = {
        v.aggregate_id: (v.version, v.deleted)
        for v in ProjectionVersion.objects.filter(projection="catalog.product")
    }
    assert versions == {"1": (2, True), "2": (4, False)}


def test_per_event_and_batch_handlers_mix_in_one_registry() -> None:
    seen: list[int] = []

    def per_event(envelope: Envelope) -> None:
        seen.append(envelope.data["id"])

    handlers = {**HANDLERS, "catalog.product.deleted": per_event}
    apply(handlers, event("upserted", 1, 1), event("deleted", 1, 2), event("deleted", 2, 1))

    assert seen == [1, 2]
    assert Product.objects.filter(pk=1).exists()  # the per-event stand-in deleted nothing


def test_own_events_are_dropped_from_a_batch_and_the_rest_applied() -> None:
    received: list[list[str]] = []

    @batch_handler
    def record(events: list[Envelope]) -> None:
        received.append([e.source for e in events])

    wrapped = foreign_events_only({"catalog.product.upserted": record})
    own = dataclasses.replace(event("upserted", 1, 1), source=this_side())
    foreign = event("upserted", 2, 1)

    assert is_batch_handler(wrapped["catalog.product.upserted"])
    wrapped["catalog.product.upserted"]([own, foreign])
    wrapped["catalog.product.upserted"]([own])

    assert received == [["catalog-service"]]  # nothing called for a batch of only own events


def test_newest_per_key_keeps_the_last_event_of_each_key_in_order_of_those_events() -> None:
    assert newest_per_key([("a", 1), ("b", 1), ("a", 2), ("c", 1)], key=lambda e: e[0]) == [
        ("b", 1),
        ("a", 2),
        ("c", 1),
    ]
