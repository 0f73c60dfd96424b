"""Fixtures of the sync tests: products written without events, as legacy rows are."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction

from monolith.catalog.events import product_upserted_payload
from monolith.catalog.models import Category, Product
from strangler.outbox import record_event

PRODUCT_COLUMNS = (
    "id",
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "category_id",
    "active",
    "created_at",
    "updated_at",
)
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def product_row(key: int, category_id: int | None = None) -> tuple[object, ...]:
    """A legacy product row as raw SQL writes it (no outbox, no events)."""
    moment = EPOCH + timedelta(seconds=key, microseconds=key % 1_000_000)
    return (
        key,
        f"SKU-{key:07d}",
        f"Product {key} ñ",
        "" if key % 3 else f"line one\nline: two {key}",
        Decimal(key % 10_000) + Decimal("0.99"),
        "EUR" if key % 2 else "USD",
        category_id,
        key % 5 != 0,
        moment,
        moment + timedelta(days=1),
    )


def insert_products_sql(rows: Sequence[tuple[object, ...]], *, chunk: int = 5000) -> None:
    """Insert rows into catalog_product with plain SQL in the test database (no events)."""
    table = Product._meta.db_table
    placeholders = ", ".join(["%s"] * len(PRODUCT_COLUMNS))
    sql = f"INSERT INTO {table} ({', '.join(PRODUCT_COLUMNS)}) VALUES ({placeholders})"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            cursor.executemany(sql, list(rows[start : start + chunk]))
        if connection.vendor == "postgresql":
            # Rows inserted with explicit ids: move the sequence past them for ORM inserts.
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )


def write_product(product: Product | None = None, **fields: object) -> Product:
    """Save a product and record its snapshot event in one transaction, as the writer does."""
    with transaction.atomic():
        if product is None:
            product = Product(currency="EUR", price=Decimal("1.00"), **fields)
        else:
            for name, value in fields.items():
                setattr(product, name, value)
        product.save()
        record_event(
            "catalog.product.upserted", subject=product.pk, data=product_upserted_payload(product)
        )
    return product


@pytest.fixture
def legacy_products(db) -> Callable[[int], list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    """Create n products with raw SQL (ids 1..n), half in a category; returns their rows."""

    def create(n: int) -> list[tuple[object, ...]]:
        category = Category.objects.create(name="Tools", slug="tools")
        rows = [product_row(k, category.pk if k % 2 else None) for k in range(1, n + 1)]
        insert_products_sql(rows)
        return rows

    return create
