"""Inbox handlers of the catalog service: the one place that maps event types to functions.

Each handler applies one state-transfer event to this service's own tables. The inbox has already
validated and upcast the event, deduplicated it and checked its aggregate version, and runs the
handler in the transaction that records the event as applied.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.dateparse import parse_datetime

from extracted.catalog.catalog.models import Category, Product
from shared_contracts.envelope import Envelope
from strangler.ownership.echo import foreign_events_only

CATEGORY_FIELDS = ["name", "slug", "parent"]
PRODUCT_FIELDS = [
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "category",
    "active",
    "created_at",
    "updated_at",
]


def _upsert(row: Category | Product, fields: list[str]) -> None:
    """Insert the row or replace its fields, in one statement (INSERT ... ON CONFLICT UPDATE).

    One round trip instead of update_or_create's lock, savepoints and second statement: the inbox
    already holds the aggregate's version row lock, so no other consumer races this write.
    """
    type(row).objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["id"], update_fields=fields
    )


def apply_category_upserted(event: Envelope) -> None:
    """Create or replace a category with the snapshot (the monolith's id is the key)."""
    data = event.data
    category = Category(
        id=data["id"], name=data["name"], slug=data["slug"], parent_id=data["parent_id"]
    )
    _upsert(category, CATEGORY_FIELDS)


def apply_category_deleted(event: Envelope) -> None:
    """Remove a category; the inbox keeps its tombstone version."""
    Category.objects.filter(pk=event.data["id"]).delete()


def apply_product_upserted(event: Envelope) -> None:
    """Create or replace a product with the snapshot, timestamps included."""
    data = event.data
    product = Product(
        id=data["id"],
        sku=data["sku"],
        name=data["name"],
        description=data["description"],
        price=Decimal(data["price"]),
        currency=data["currency"],
        category_id=data["category_id"],
        active=data["active"],
        created_at=parse_datetime(data["created_at"]),
        updated_at=parse_datetime(data["updated_at"]),
    )
    _upsert(product, PRODUCT_FIELDS)


def apply_product_deleted(event: Envelope) -> None:
    """Remove a product; the inbox keeps its tombstone version."""
    Product.objects.filter(pk=event.data["id"]).delete()


# foreign_events_only: after a cutover this service is the writer and receives its own events
# back on its queue; they are recorded by the inbox but never applied again (no echo).
HANDLERS = foreign_events_only(
    {
        "catalog.category.upserted": apply_category_upserted,
        "catalog.category.deleted": apply_category_deleted,
        "catalog.product.upserted": apply_product_upserted,
        "catalog.product.deleted": apply_product_deleted,
    }
)
