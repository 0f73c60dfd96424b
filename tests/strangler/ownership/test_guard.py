"""The write guard: one writer per context, 409 on the other side, 503 while frozen."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from monolith.catalog import services
from monolith.catalog.models import Product
from strangler.api import api_exception_handler
from strangler.cutover.services import FenceTimeout, fence_writes
from strangler.outbox.models import OutboxEvent
from strangler.ownership.guard import (
    NotWriterError,
    WriterDatabaseUnavailable,
    WritesFrozenError,
    require_writer,
)
from strangler.ownership.models import ContextOwnership
from strangler.ownership.selectors import context_state, forget_cached_states
from strangler.ownership.services import freeze_writes, set_writer, unfreeze_writes
from tests.identity import bearer, staff_token

pytestmark = pytest.mark.django_db(databases=["default", "control"])

PRODUCT = {"sku": "G-1", "name": "Guarded", "price": "3.50", "currency": "EUR"}


@pytest.fixture
def api() -> APIClient:
    """A client with the catalog's write permissions: the guard is what refuses, not identity."""
    return APIClient(headers=bearer(staff_token(apps=("catalog",))))


def test_the_monolith_writes_the_catalog_until_a_cutover_says_otherwise(api: APIClient) -> None:
    state = context_state("catalog", max_age=0)
    assert (state.writer, state.frozen, state.recorded) == ("monolith", False, False)
    assert api.post("/api/catalog/products/", PRODUCT, format="json").status_code == 201


def test_a_write_sent_to_the_non_writer_gets_409_naming_the_writer_and_changes_nothing(
    api: APIClient,
) -> None:
    set_writer("catalog", "service")
    response = api.post("/api/catalog/products/", PRODUCT, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "writes_owned_elsewhere"
    assert error["message"].startswith("writes for catalog are owned by catalog-service;")
    assert Product.objects.count() == 0
    assert OutboxEvent.objects.count() == 0


def test_code_paths_get_not_writer_error_with_the_writer() -> None:
    set_writer("catalog", "service")
    with pytest.raises(NotWriterError) as caught:
        services.product_create(sku="X", name="x", price=Decimal("1.00"), currency="EUR")
    assert caught.value.writer == "catalog-service"
    assert Product.objects.count() == 0


def test_frozen_writes_answer_503_with_retry_after_and_change_nothing(api: APIClient) -> None:
    product = services.product_create(sku="F-1", name="f", price=Decimal("1.00"), currency="EUR")
    freeze_writes("catalog", reason="cutover run 7 to catalog-service")
    response = api.patch(f"/api/catalog/products/{product.pk}/", {"name": "no"}, format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response["X-Strangler-Intended"] == "1"  # the gateway counts it as no failure
    assert response.json()["error"]["code"] == "writes_frozen"
    assert "cutover run 7" in response.json()["error"]["message"]
    assert Product.objects.get(pk=product.pk).name == "f"
    assert OutboxEvent.objects.count() == 1  # only the create's event

    unfreeze_writes("catalog")
    response = api.patch(f"/api/catalog/products/{product.pk}/", {"name": "yes"}, format="json")
    assert response.status_code == 200


def test_every_change_bumps_the_epoch_and_repeating_one_changes_nothing() -> None:
    assert set_writer("catalog", "service").epoch == 1
    assert set_writer("catalog", "catalog-service").epoch == 1  # same writer: idempotent
    assert freeze_writes("catalog", reason="r").epoch == 2
    assert freeze_writes("catalog", reason="r").epoch == 2
    assert unfreeze_writes("catalog").epoch == 3
    assert set_writer("catalog", "monolith").epoch == 4
    row = ContextOwnership.objects.get(context="catalog")
    assert (row.writer, row.frozen, row.epoch) == ("monolith", False, 4)


def test_states_are_reused_for_the_cache_ttl_unless_asked_fresh() -> None:
    assert context_state("catalog").writer == "monolith"
    # Written behind the process's back (as another process would): the cache still answers.
    ContextOwnership.objects.create(
        context="catalog", writer="catalog-service", updated_at="2026-01-01T00:00Z"
    )
    assert context_state("catalog").writer == "monolith"
    assert context_state("catalog", max_age=0).writer == "catalog-service"
    forget_cached_states()
    assert context_state("catalog").writer == "catalog-service"


def test_ownership_rows_live_in_the_control_database_only() -> None:
    set_writer("catalog", "service")
    assert ContextOwnership.objects.db == "control"
    default_tables = connections["default"].introspection.table_names()
    control_tables = connections["control"].introspection.table_names()
    assert "strangler_ownership_context" in control_tables
    assert "strangler_ownership_context" not in default_tables
    assert "catalog_product" not in control_tables


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "control"], transaction=True)
def test_the_fence_waits_for_a_write_transaction_that_passed_the_guard() -> None:
    passed, release = threading.Event(), threading.Event()

    def writer() -> None:
        try:
            with transaction.atomic():
                require_writer("catalog")  # takes the fence lock shared until commit
                passed.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert passed.wait(10)
        with pytest.raises(FenceTimeout):
            fence_writes("catalog", timeout=0.3)
    finally:
        release.set()
        thread.join(10)
    assert fence_writes("catalog", timeout=5) == "advisory lock"


def test_a_frozen_context_refuses_before_checking_the_writer() -> None:
    set_writer("catalog", "service")
    freeze_writes("catalog", reason="moving")
    with pytest.raises(WritesFrozenError):
        require_writer("catalog")


def test_a_control_database_without_the_ownership_table_means_the_default_writer() -> None:
    table = ContextOwnership._meta.db_table
    with connections["control"].cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        state = context_state("catalog", max_age=0)
        assert (state.writer, state.frozen, state.recorded) == ("monolith", False, False)
        assert require_writer("catalog").writer == "monolith"
    finally:
        with connections["control"].cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "control"], transaction=True)
def test_a_write_whose_connection_is_terminated_gets_503_with_retry_after() -> None:
    import psycopg

    settings = connection.settings_dict
    with pytest.raises(WriterDatabaseUnavailable) as caught, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"] or 5432,
            user=settings["USER"],
            password=settings["PASSWORD"],
            dbname=settings["NAME"],
            autocommit=True,
        ) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        require_writer("catalog")
    response = api_exception_handler(caught.value, {})
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.data["error"]["code"] == "database_unavailable"
    connection.close()
