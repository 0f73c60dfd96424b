"""The cutover's per-side steps: version counters continue, id sequences move past every id."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from monolith.catalog import services
from monolith.catalog.models import Product
from strangler.cutover.runs import STEPS, Cutover, CutoverError, frozen_seconds
from strangler.cutover.selectors import (
    applied_versions,
    issued_versions,
    side_state,
    versions_behind,
)
from strangler.cutover.services import advance_sequences, fence_writes, seed_versions
from strangler.inbox.models import ProjectionVersion
from strangler.outbox.models import AggregateVersion, OutboxEvent
from strangler.outbox.services import next_aggregate_version
from strangler.ownership.models import CutoverRun
from strangler.ownership.selectors import context_state
from strangler.ownership.services import freeze_writes

pytestmark = pytest.mark.django_db(databases=["default", "control"])


def make_product(sku: str) -> Product:
    return services.product_create(sku=sku, name=sku, price=Decimal("1.00"), currency="EUR")


def test_versions_continue_where_the_old_writer_stopped() -> None:
    now = timezone.now()
    ProjectionVersion.objects.bulk_create(
        [
            ProjectionVersion(
                projection="catalog.product", aggregate_id="1", version=4, updated_at=now
            ),
            ProjectionVersion(
                projection="catalog.product",
                aggregate_id="2",
                version=9,
                updated_at=now,
                deleted=True,
            ),
        ]
    )
    AggregateVersion.objects.create(aggregate_type="catalog.product", aggregate_id="1", version=6)
    seed_versions("catalog")
    seed_versions("catalog")  # idempotent
    from django.db import transaction

    with transaction.atomic():
        assert next_aggregate_version("catalog.product", "1") == 7  # its own 6 was higher
        assert next_aggregate_version("catalog.product", "2") == 10  # continues after the tombstone
        assert next_aggregate_version("catalog.product", "3") == 1


def test_sequences_move_past_the_floor_and_never_back() -> None:
    first = make_product("A")
    after = advance_sequences("catalog", {"catalog.product": first.pk + 1000})
    assert after["catalog.product"] == first.pk + 1000
    assert make_product("B").pk == first.pk + 1001
    again = advance_sequences("catalog", {"catalog.product": 5})
    assert again["catalog.product"] == first.pk + 1001
    assert make_product("C").pk == first.pk + 1002


def test_side_state_counts_rows_pending_events_and_highest_ids() -> None:
    products = [make_product(f"S-{i}") for i in range(3)]
    deleted_id = products[2].pk
    services.product_delete(product=products[2])  # the sequence still remembers its id
    state = side_state("catalog")
    assert state.name == "monolith"
    assert (
        state.outbox_pending == OutboxEvent.objects.filter(published_at__isnull=True).count() == 4
    )
    assert state.counts["catalog.product"] == 2
    assert state.highest_id("catalog.product") == deleted_id


def test_the_reader_is_behind_until_it_has_every_issued_version() -> None:
    products = [make_product(f"V-{i}") for i in range(3)]
    issued = issued_versions("catalog")
    assert set(issued["catalog.product"]) == {str(p.pk) for p in products}
    # This database as the reader: it knows its own issued versions, so nothing is behind.
    assert versions_behind(issued, applied_versions("catalog")) == {
        "catalog.category": {},
        "catalog.product": {},
    }
    behind = versions_behind(issued, {"catalog.product": {str(products[0].pk): 1}})
    assert sorted(behind["catalog.product"]) == sorted(str(p.pk) for p in products[1:])
    only = applied_versions("catalog", {"catalog.product": [str(products[1].pk)]})
    assert only["catalog.product"] == {str(products[1].pk): 1}


def test_the_fence_returns_once_no_write_is_in_flight() -> None:
    expected = "advisory lock" if connection.vendor == "postgresql" else "database write lock"
    assert fence_writes("catalog", timeout=5) == expected


def test_a_run_that_cannot_reach_the_other_side_aborts_unfrozen_and_unchanged() -> None:
    cutover = Cutover("catalog", "service", peer_url="http://127.0.0.1:9", echo=lambda line: None)
    with pytest.raises(CutoverError, match="aborted at step plan"):
        cutover.execute()
    run = CutoverRun.objects.get()
    assert (run.state, run.step) == ("aborted", "")
    state = context_state("catalog", max_age=0)
    assert (state.writer, state.frozen) == ("monolith", False)


def test_an_unfinished_run_to_the_other_side_must_be_finished_or_aborted_first() -> None:
    CutoverRun.objects.create(
        context="catalog",
        source="catalog-service",
        target="monolith",
        step="freeze",
        started_at=timezone.now(),
    )
    freeze_writes("catalog", reason="run 1")
    cutover = Cutover("catalog", "service", peer_url="http://127.0.0.1:9", echo=lambda line: None)
    with pytest.raises(CutoverError, match="unfinished cutover of catalog to monolith"):
        cutover.execute()
    assert Cutover("catalog", "monolith", echo=lambda line: None).abort_unfinished() is not None
    assert CutoverRun.objects.get().state == "aborted"
    assert not context_state("catalog", max_age=0).frozen


def test_the_dry_run_lists_every_step_and_changes_nothing() -> None:
    lines = Cutover("catalog", "service", peer_url="http://127.0.0.1:9", echo=print).plan()
    text = "\n".join(lines)
    for step in STEPS:
        assert f". {step}" in text
    assert "catalog-service: cannot be asked" in text
    assert CutoverRun.objects.count() == 0
    assert not context_state("catalog", max_age=0).recorded


def test_frozen_seconds_come_from_the_run_log() -> None:
    run = CutoverRun(
        log=[
            {"step": "freeze", "event": "done", "at": "2026-01-01T00:00:00+00:00"},
            {"step": "unfreeze", "event": "done", "at": "2026-01-01T00:00:02.500000+00:00"},
        ]
    )
    assert frozen_seconds(run) == 2.5
