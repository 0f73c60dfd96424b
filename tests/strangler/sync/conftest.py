"""Fixtures of the sync tests: products written without events, as legacy rows are, and the
other side of a migration as a real process on a database of its own."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction

from monolith.catalog.events import product_upserted_payload
from monolith.catalog.models import Category, Product
from strangler.outbox import record_event
from tests.processes import PYTHON, base_env, free_port, process_group
from tests.servers import POSTGRES_URL

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


TOKEN = "reconcile-test-token"


@dataclass
class OtherSide:
    """The monolith's code running as a separate process on a database of its own."""

    url: str
    database_url: str

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        with self._connect() as db:
            db.execute(sql, params)

    def copy_products_from_here(self) -> None:
        """Make the other side's products (and categories) equal to this side's, as stored."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, name, slug, parent_id FROM catalog_category")
            categories = cursor.fetchall()
            cursor.execute(f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM catalog_product")
            products = cursor.fetchall()
        with self._connect() as db:
            db.execute("DELETE FROM catalog_product")
            db.execute("DELETE FROM catalog_category")
            self._insert(db, "catalog_category", ("id", "name", "slug", "parent_id"), categories)
            self._insert(db, "catalog_product", PRODUCT_COLUMNS, products)

    def _connect(self):  # type: ignore[no-untyped-def]
        if self.database_url.startswith("sqlite:"):
            return _SqliteSession(self.database_url.removeprefix("sqlite:///"))
        return psycopg.connect(self.database_url, autocommit=False)

    def _insert(self, db, table: str, columns: Sequence[str], rows: list) -> None:  # type: ignore[no-untyped-def]
        if isinstance(db, _SqliteSession):
            marks = ", ".join("?" * len(columns))
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        with (
            db.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)


class _SqliteSession:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path)

    def __enter__(self) -> _SqliteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.commit()
        self.db.close()

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self.db.execute(sql.replace("%s", "?"), params)

    def executemany(self, sql: str, rows: list) -> None:  # type: ignore[type-arg]
        self.db.executemany(sql, rows)


@pytest.fixture(scope="module")
def other_side(tmp_path_factory: pytest.TempPathFactory, django_db_blocker) -> Iterator[OtherSide]:  # type: ignore[no-untyped-def]
    """A second monolith process (runserver) on its own database, with the shared token."""
    folder = tmp_path_factory.mktemp("other-side")
    with django_db_blocker.unblock():
        vendor = connection.vendor
    created = None
    if vendor == "postgresql":
        created = f"strangler_sync_other_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{created}"')
        database_url = f"postgres://postgres@127.0.0.1:5432/{created}"
    else:
        database_url = f"sqlite:///{folder / 'other.sqlite3'}"
    env = base_env(
        DATABASE_URL=database_url,
        STRANGLER_INTERNAL_TOKEN=TOKEN,
        DJANGO_SETTINGS_MODULE="monolith.config.settings",
    )
    port = free_port()
    with process_group(Path(folder)) as group:
        migrate = group.start("migrate", [PYTHON, "manage.py", "migrate", "--no-input"], env)
        assert migrate.wait_exit(180) == 0, migrate.log()[-3000:]
        group.start_http(
            "other-side",
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--nothreading"],
            env,
            ready_url=f"http://127.0.0.1:{port}/healthz",
        )
        yield OtherSide(f"http://127.0.0.1:{port}", database_url)
    if created:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
