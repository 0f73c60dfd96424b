"""Reverse sync: the catalog service's events applied to the monolith's legacy catalog tables.

After the catalog is cut over to the service, the service writes and publishes; these handlers
keep the legacy tables (which orders, inventory and the admin still read) equal to the service's
rows, one statement per run of events of a type (batch handlers). The inbox runs them with outbox
capture suppressed, so nothing they write is published again, and `foreign_events_only` makes
the monolith ignore the events it published itself.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.dateparse import parse_datetime

from monolith.catalog.models import Category, Product
from strangler.contracts.envelope import Envelope
from strangler.db import upsert_rows
from strangler.inbox.handlers import batch_handler, newest_per_key
from strangler.ownership.echo import foreign_events_only

CATEGORY_FIELDS = ("id", "name", "slug", "parent")
PRODUCT_FIELDS = (
    "id",
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "category",
    "active",
    "created_at",
    "updated_at",
)


def _newest(events: list[Envelope]) -> list[Envelope]:
    return newest_per_key(events, key=lambda event: event.data["id"])


@batch_handler
def apply_categories_upserted(events: list[Envelope]) -> None:
    """Create or replace categories with the service's newest snapshots (same ids both sides)."""
    rows = [
        (data["id"], data["name"], data["slug"], data["parent_id"])
        for data in (event.data for event in _newest(events))
    ]
    upsert_rows(Category, CATEGORY_FIELDS, rows, conflict=("id",), update=CATEGORY_FIELDS[1:])


@batch_handler
def apply_categories_deleted(events: list[Envelope]) -> None:
    """Remove categories in one statement; the inbox keeps their tombstone versions."""
    Category.objects.filter(pk__in={event.data["id"] for event in events}).delete()


@batch_handler
def apply_products_upserted(events: list[Envelope]) -> None:
    """Create or replace products with the newest snapshots, the service's timestamps included.

    upsert_rows writes the values as given (auto_now / auto_now_add do not run), so the service's
    timestamps land and the two stores agree.
    """
    rows = [
        (
            data["id"],
            data["sku"],
            data["name"],
            data["description"],
            Decimal(data["price"]),
            data["currency"],
            data["category_id"],
            data["active"],
            parse_datetime(data["created_at"]),
            parse_datetime(data["updated_at"]),
        )
        for data in (event.data for event in _newest(events))
    ]
    upsert_rows(Product, PRODUCT_FIELDS, rows, conflict=("id",), update=PRODUCT_FIELDS[1:])


@batch_handler
def apply_products_deleted(events: list[Envelope]) -> None:
    """Remove products in one statement; the inbox keeps their tombstone versions.

    A product that monolith order lines still reference is protected (on_delete=PROTECT): the
    ProtectedError fails the batch, the inbox applies its events one by one, and the protected
    product's event is retried and then dead-lettered with the reason.
    """
    Product.objects.filter(pk__in={event.data["id"] for event in events}).delete()


HANDLERS = foreign_events_only(
    {
        "catalog.category.upserted": apply_categories_upserted,
        "catalog.category.deleted": apply_categories_deleted,
        "catalog.product.upserted": apply_products_upserted,
        "catalog.product.deleted": apply_products_deleted,
    }
)
