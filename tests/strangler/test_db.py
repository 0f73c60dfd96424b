"""strangler.db.upsert_rows: one statement, the same results on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from monolith.catalog.handlers import PRODUCT_FIELDS
from monolith.catalog.models import Category, Product
from strangler.db import upsert_rows
from strangler.inbox.models import ProjectionVersion
from strangler.outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db

FIELDS = PRODUCT_FIELDS  # id, sku, name, description, price, currency, category, active, ...
WHEN = datetime(2026, 11, 29, 12, 30, 15, 123456, tzinfo=UTC)


def product_row(pk: int, price: str = "9.99", name: str = "") -> tuple[object, ...]:
    return (
        pk,
        f"SKU-{pk}",
        name or f"Product {pk}",
        "",
        Decimal(price),
        "EUR",
        None,
        True,
        WHEN,
        WHEN,
    )


def test_inserts_then_updates_the_listed_fields_only() -> None:
    upsert_rows(Product, FIELDS, [product_row(1), product_row(2)], conflict=("id",))
    changed = (1, "SKU-1", "Renamed", "new text", Decimal("1.50"), "USD", None, False, WHEN, WHEN)
    upsert_rows(Product, FIELDS, [changed], conflict=("id",), update=("name", "price"))

    first = Product.objects.get(pk=1)
    assert (first.name, first.price) == ("Renamed", Decimal("1.50"))
    assert (first.description, first.currency, first.active) == ("", "EUR", True)  # not listed
    assert Product.objects.count() == 2


def test_without_update_a_colliding_row_is_skipped_and_not_returned() -> None:
    upsert_rows(Product, FIELDS, [product_row(1, name="Kept")], conflict=("id",))
    returned = upsert_rows(
        Product,
        FIELDS,
        [product_row(1, name="Ignored"), product_row(3)],
        conflict=("id",),
        returning=("id",),
    )
    assert returned == [(3,)]
    assert Product.objects.get(pk=1).name == "Kept"


def test_update_where_keeps_the_newer_row() -> None:
    fields = ("projection", "aggregate_id", "version", "deleted", "updated_at")
    upsert_rows(ProjectionVersion, fields, [("p", "1", 5, False, WHEN)], conflict=fields[:2])
    written = upsert_rows(
        ProjectionVersion,
        fields,
        [("p", "1", 3, True, WHEN), ("p", "2", 1, False, WHEN)],
        conflict=fields[:2],
        update=("version", "deleted"),
        update_where="{table}.version < EXCLUDED.version",
        returning=("aggregate_id", "version"),
    )
    assert written == [("2", 1)]  # the older version 3 changed nothing
    assert ProjectionVersion.objects.get(aggregate_id="1").version == 5


def test_values_round_trip_exactly() -> None:
    """Datetimes, Decimals, UUIDs, JSON, foreign keys and None come back as they went in."""
    Category.objects.create(id=7, name="Tools", slug="tools")
    event_id = uuid.uuid4()
    data = {"id": 1, "nested": {"list": [1, 2.5, None, "ü"]}, "flag": True}
    upsert_rows(
        Product,
        FIELDS,
        [(1, "S", "N", "d", Decimal("12.30"), "EUR", 7, False, WHEN, WHEN)],
        conflict=("id",),
    )
    upsert_rows(
        OutboxEvent,
        (
            "event_id",
            "event_type",
            "source",
            "subject",
            "aggregate_type",
            "aggregate_version",
            "partition",
            "dataversion",
            "data",
            "correlation_id",
            "causation_id",
            "traceparent",
            "attempts",
            "last_error",
            "created_at",
            "published_at",
        ),
        [(event_id, "t.x.upserted", "s", "1", "t.x", 1, 3, 1, data, "", "", "", 0, "", WHEN, None)],
        conflict=("event_id",),
    )
    product = Product.objects.get(pk=1)
    assert (product.price, product.category_id, product.active) == (Decimal("12.30"), 7, False)
    assert product.created_at == WHEN
    event = OutboxEvent.objects.get(event_id=event_id)
    assert (event.data, event.created_at, event.published_at) == (data, WHEN, None)


def test_many_rows_in_one_call() -> None:
    """More rows than one SQLite statement may carry parameters for are split transparently."""
    rows = [product_row(pk) for pk in range(1, 5001)]
    returned = upsert_rows(Product, FIELDS, rows, conflict=("id",), returning=("id",))
    assert len(returned) == 5000
    assert Product.objects.count() == 5000


def test_no_rows_is_no_statement(django_assert_num_queries: object) -> None:
    with django_assert_num_queries(0):  # type: ignore[operator]
        assert upsert_rows(Product, FIELDS, [], conflict=("id",)) == []


@pytest.mark.postgres
def test_on_postgresql_the_statement_is_prepared_once_and_run_from_its_plan() -> None:
    from django.db import connection

    for round_ in range(7):
        rows = [product_row(pk, price=f"{round_}.50") for pk in range(1, 4)]
        upsert_rows(Product, FIELDS, rows, conflict=("id",), update=("price",))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            ["%jsonb_array_elements%"],
        )
        plans = cursor.fetchall()
    assert len(plans) == 1  # one text, prepared once
    generic, custom = plans[0]
    assert generic + custom == 7 and generic > 0
    assert Product.objects.get(pk=2).price == Decimal("6.50")
