"""The bypass guard: writes that change a tracked table without recording its event are caught."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.checks import Error
from django.db import connection, transaction
from django.test import override_settings
from django.urls import reverse
from prometheus_client import REGISTRY

from monolith.catalog.handlers import HANDLERS
from monolith.catalog.models import Category, Product
from monolith.catalog.services import (
    category_create,
    product_create,
    product_delete,
    product_update,
)
from monolith.customers.models import Customer
from monolith.inventory.services import stock_adjust
from monolith.orders.services import OrderLineRequest, order_place
from strangler.contracts.envelope import Envelope
from strangler.inbox.services import apply_events
from strangler.outbox.bypass import (
    Bypass,
    BypassRecorder,
    LogBypasses,
    OutboxBypassError,
    guard_of,
    watch_from_settings,
    watching,
)
from strangler.outbox.checks import check_outbox_settings
from strangler.outbox.services import outbox_capture_suppressed
from strangler.sync.conf import sync_settings
from strangler.sync.projections import reset_projection

pytestmark = pytest.mark.django_db(databases=["default", "control"])

THIS_FILE = "test_bypass_guard.py:"


def make_product(sku: str, *, name: str = "Lamp") -> Product:
    """A product written the right way: through the catalog service, event recorded."""
    return product_create(sku=sku, name=name, price=Decimal("10.00"), currency="EUR")


def unsaved(sku: str) -> Product:
    return Product(sku=sku, name=sku, price=Decimal("1.00"), currency="EUR")


def only(bypasses: list[Bypass]) -> Bypass:
    assert len(bypasses) == 1, bypasses
    bypass = bypasses[0]
    assert (bypass.table, bypass.aggregate_type) == ("catalog_product", "catalog.product")
    return bypass


def bypassed_count(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "strangler_outbox_bypassed_writes_total",
        {"table": "catalog_product", "aggregate_type": "catalog.product", "outcome": outcome},
    )
    return value or 0.0


# --- each kind of bypass is caught ------------------------------------------------------------


def test_queryset_update_is_caught_with_the_callers_line(
    outbox_bypass_guard: BypassRecorder,
) -> None:
    make_product("A-1")

    Product.objects.filter(active=True).update(name="Renamed")

    bypass = only(outbox_bypass_guard.take())
    assert bypass.unnamed and bypass.rows == ()
    assert bypass.statements[0].startswith("UPDATE at ")
    assert THIS_FILE in bypass.statements[0]
    assert "test_queryset_update_is_caught_with_the_callers_line" in bypass.statements[0]


def test_update_of_one_row_needs_an_event_for_that_row(
    outbox_bypass_guard: BypassRecorder,
) -> None:
    other = make_product("A-2")
    with transaction.atomic():
        recorded = make_product("A-3")  # an event for A-3, not for A-2
        Product.objects.filter(pk=other.pk).update(name="Renamed")

    bypass = only(outbox_bypass_guard.take())
    assert bypass.rows == (str(other.pk),)
    assert str(recorded.pk) not in bypass.rows
    assert not bypass.unnamed


def test_bulk_create_is_caught(outbox_bypass_guard: BypassRecorder) -> None:
    Product.objects.bulk_create([unsaved("B-1"), unsaved("B-2")])

    bypass = only(outbox_bypass_guard.take())
    assert bypass.statements[0].startswith("INSERT at ")
    assert THIS_FILE in bypass.statements[0]


def test_bulk_create_with_ids_names_its_rows(outbox_bypass_guard: BypassRecorder) -> None:
    rows = [unsaved("B-3"), unsaved("B-4")]
    rows[0].pk, rows[1].pk = 9001, 9002

    Product.objects.bulk_create(rows)

    assert only(outbox_bypass_guard.take()).rows == ("9001", "9002")


def test_bulk_update_is_caught_row_by_row(outbox_bypass_guard: BypassRecorder) -> None:
    first, second = make_product("C-1"), make_product("C-2")
    first.name, second.name = "One", "Two"

    Product.objects.bulk_update([first, second], ["name"])

    bypass = only(outbox_bypass_guard.take())
    assert bypass.rows == (str(first.pk), str(second.pk))


def test_queryset_delete_is_caught(outbox_bypass_guard: BypassRecorder) -> None:
    doomed = [make_product("D-1"), make_product("D-2")]

    Product.objects.filter(sku__startswith="D-").delete()

    bypass = only(outbox_bypass_guard.take())
    assert set(bypass.rows) == {str(product.pk) for product in doomed}
    assert bypass.statements[0].startswith("DELETE at ")


def test_raw_sql_through_a_cursor_is_caught(outbox_bypass_guard: BypassRecorder) -> None:
    product = make_product("E-1")

    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_product SET name = %s WHERE sku = %s", ["Raw", "E-1"])
        cursor.execute(f"UPDATE catalog_product SET active = false WHERE id = {product.pk}")

    bypasses = outbox_bypass_guard.take()
    assert [bypass.unnamed for bypass in bypasses] == [True, False]
    assert bypasses[1].rows == (str(product.pk),)


@pytest.mark.urls("tests.strangler.outbox.writable_admin")
def test_an_admin_action_is_caught(
    outbox_bypass_guard: BypassRecorder, client: Any, django_user_model: Any
) -> None:
    products = [make_product("F-1"), make_product("F-2")]
    admin = django_user_model.objects.create_superuser("boss", "boss@shop.test", "secret")
    client.force_login(admin)

    response = client.post(
        reverse("writable_admin:catalog_product_changelist"),
        {"action": "delete_selected", "_selected_action": [p.pk for p in products], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Product.objects.filter(sku__startswith="F-").exists()
    bypass = only(outbox_bypass_guard.take())
    assert set(bypass.rows) == {str(product.pk) for product in products}
    assert "django/contrib/admin" in bypass.statements[0]


def test_save_outside_the_services_is_caught(outbox_bypass_guard: BypassRecorder) -> None:
    product = make_product("G-1")
    product.name = "Saved directly"

    product.save()

    bypass = only(outbox_bypass_guard.take())
    assert bypass.rows == (str(product.pk),)
    assert THIS_FILE in bypass.statements[0]


def test_create_beside_a_service_call_is_caught_by_its_new_id(
    outbox_bypass_guard: BypassRecorder,
) -> None:
    with transaction.atomic():
        make_product("G-2")
        stray = Product.objects.create(sku="G-3", name="Stray", price=1, currency="EUR")

    assert only(outbox_bypass_guard.take()).rows == (str(stray.pk),)


def test_a_write_to_another_aggregates_table_is_reported_against_it(
    outbox_bypass_guard: BypassRecorder,
) -> None:
    category = category_create(name="Lamps", slug="lamps")

    Category.objects.filter(pk=category.pk).update(name="Lights")

    bypass = outbox_bypass_guard.take()[0]
    assert (bypass.table, bypass.aggregate_type) == ("catalog_category", "catalog.category")
    assert bypass.rows == (str(category.pk),)


# --- silence where nothing bypasses the outbox -----------------------------------------------


def test_the_shops_own_services_stay_silent(outbox_bypass_guard: BypassRecorder) -> None:
    category = category_create(name="Tools", slug="tools")
    product = product_create(
        sku="H-1", name="Saw", price=Decimal("20.00"), currency="EUR", category=category
    )
    product_update(product=product, changes={"name": "Hand saw", "price": Decimal("22.00")})
    stock_adjust(sku="H-1", delta=5, reason="delivery")
    customer = Customer.objects.create(email="c@shop.test", name="C")
    order_place(customer=customer, lines=[OrderLineRequest(product_id=product.pk, quantity=2)])
    spare = make_product("H-2")
    product_delete(product=spare)

    assert outbox_bypass_guard.take() == []


def envelope(verb: str, key: int, version: int, data: dict[str, Any]) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source="catalog-service",
        type=f"catalog.product.{verb}",
        data=data,
        subject=str(key),
        time=datetime.now(UTC),
        dataversion=1,
        aggregateversion=version,
    )


def test_inbox_handler_writes_stay_silent(outbox_bypass_guard: BypassRecorder) -> None:
    snapshot = {
        "id": 77,
        "sku": "S-77",
        "name": "From the service",
        "description": "",
        "price": "5.00",
        "currency": "EUR",
        "category_id": None,
        "active": True,
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:05Z",
    }
    with transaction.atomic():
        apply_events(
            [envelope("upserted", 77, 1, snapshot)], subscriber="monolith", handlers=HANDLERS
        )
    with transaction.atomic():
        apply_events(
            [envelope("deleted", 77, 2, {"id": 77})], subscriber="monolith", handlers=HANDLERS
        )

    assert not Product.objects.filter(pk=77).exists()
    assert outbox_bypass_guard.take() == []


def test_projection_reset_and_suppressed_writes_stay_silent(
    outbox_bypass_guard: BypassRecorder,
) -> None:
    make_product("I-1")
    with outbox_capture_suppressed():
        Product.objects.update(description="seeded on purpose, not published")

    reset_projection(sync_settings().aggregate("catalog", "product"), subscriber="monolith")

    assert not Product.objects.exists()
    assert outbox_bypass_guard.take() == []


def test_a_rolled_back_transaction_is_not_reported(outbox_bypass_guard: BypassRecorder) -> None:
    product = make_product("J-1")

    with pytest.raises(RuntimeError), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(name="Never committed")
        raise RuntimeError("changed my mind")

    assert outbox_bypass_guard.take() == []


def test_writes_under_a_rolled_back_savepoint_are_forgotten(
    outbox_bypass_guard: BypassRecorder,
) -> None:
    product = make_product("J-2")
    with transaction.atomic():
        make_product("J-3")
        try:
            with transaction.atomic():
                Product.objects.filter(pk=product.pk).update(name="Undone")
                raise RuntimeError("inner step failed")
        except RuntimeError:
            pass

    assert outbox_bypass_guard.take() == []


# --- production modes -------------------------------------------------------------------------


def test_log_mode_counts_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    product = make_product("K-1")
    before = bypassed_count("logged")

    with (
        caplog.at_level(logging.WARNING, "strangler.outbox.bypass"),
        watching(LogBypasses(refuse=False)),
    ):
        Product.objects.filter(pk=product.pk).update(name="Logged")

    assert Product.objects.get(pk=product.pk).name == "Logged"
    assert bypassed_count("logged") == before + 1
    (record,) = caplog.records
    message = record.getMessage()
    assert "catalog_product (catalog.product)" in message
    assert f"rows {product.pk}" in message and THIS_FILE in message
    assert (record.table, record.aggregate_type) == ("catalog_product", "catalog.product")


def test_refuse_mode_rolls_the_savepoint_back_inside_a_test_transaction() -> None:
    product = make_product("L-1")

    with watching(LogBypasses(refuse=True)):
        with pytest.raises(OutboxBypassError, match="catalog_product"), transaction.atomic():
            Product.objects.filter(pk=product.pk).update(name="Refused")
        make_product("L-2")  # the connection is usable, and services still commit

    assert Product.objects.get(pk=product.pk).name == "Lamp"
    assert Product.objects.filter(sku="L-2").exists()


@pytest.mark.django_db(transaction=True, databases=["default", "control"])
def test_refuse_mode_rolls_back_at_commit_and_refuses_autocommit_writes() -> None:
    product = make_product("M-1")
    before = bypassed_count("refused")

    with watching(LogBypasses(refuse=True)):
        with pytest.raises(OutboxBypassError) as refused, transaction.atomic():
            Product.objects.filter(pk=product.pk).update(name="Refused at commit")
            Product.objects.create(sku="M-2", name="Refused too", price=1, currency="EUR")
        with pytest.raises(OutboxBypassError):
            Product.objects.filter(pk=product.pk).update(name="Refused at once")
        kept = make_product("M-3")

    assert refused.value.bypasses[0].rows[0] == str(product.pk)
    assert Product.objects.get(pk=product.pk).name == "Lamp"
    assert not Product.objects.filter(sku="M-2").exists()
    assert Product.objects.filter(pk=kept.pk).exists()
    assert bypassed_count("refused") == before + 2


# --- installation and settings ----------------------------------------------------------------


def test_off_by_default_nothing_is_installed() -> None:
    assert guard_of(connection) is None
    assert "commit" not in connection.__dict__
    assert watch_from_settings() is None


def test_the_setting_installs_the_guard_and_stopping_removes_it() -> None:
    with override_settings(STRANGLER_OUTBOX={"BYPASS_GUARD": "refuse"}):
        watch = watch_from_settings()
    assert watch is not None
    try:
        guard = guard_of(connection)
        assert guard is not None and guard.policy.refuse
        assert connection.commit == guard._commit
    finally:
        watch.stop()
    assert guard_of(connection) is None
    assert "commit" not in connection.__dict__


def test_a_misspelt_mode_fails_the_checks() -> None:
    with override_settings(STRANGLER_OUTBOX={"BYPASS_GUARD": "warn"}):
        errors = check_outbox_settings()
    assert [e.id for e in errors if isinstance(e, Error)] == ["outbox.E006"]
