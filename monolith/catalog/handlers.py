"""Reverse sync: the catalog service's events applied to the monolith's legacy catalog tables.

After the catalog is cut over to the service, the service writes and publishes; these handlers
keep the legacy tables (which orders, inventory and the admin still read) equal to the service's
rows. The inbox runs them with outbox capture suppressed, so nothing they write is published
again, and `foreign_events_only` makes the monolith ignore the events it published itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime

from monolith.catalog.models import Category, Product
from shared_contracts.envelope import Envelope
from strangler.ownership.echo import foreign_events_only


def apply_category_upserted(event: Envelope) -> None:
    """Create or replace a category with the service's snapshot (same id on both sides)."""
    data = event.data
    Category.objects.update_or_create(
        pk=data["id"],
        defaults={"name": data["name"], "slug": data["slug"], "parent_id": data["parent_id"]},
    )


def apply_category_deleted(event: Envelope) -> None:
    """Remove a category; the inbox keeps its tombstone version."""
    Category.objects.filter(pk=event.data["id"]).delete()


def apply_product_upserted(event: Envelope) -> None:
    """Create or replace a product with the snapshot, the service's timestamps included."""
    data = event.data
    fields: dict[str, Any] = {
        "sku": data["sku"],
        "name": data["name"],
        "description": data["description"],
        "price": Decimal(data["price"]),
        "currency": data["currency"],
        "category_id": data["category_id"],
        "active": data["active"],
    }
    timestamps = {
        "created_at": parse_datetime(data["created_at"]),
        "updated_at": parse_datetime(data["updated_at"]),
    }
    # QuerySet.update() bypasses auto_now / auto_now_add, which would replace the service's
    # timestamps with the time of this apply and make the two stores differ.
    if not Product.objects.filter(pk=data["id"]).update(**fields, **timestamps):
        Product.objects.create(pk=data["id"], **fields)
        Product.objects.filter(pk=data["id"]).update(**timestamps)


def apply_product_deleted(event: Envelope) -> None:
    """Remove a product; the inbox keeps its tombstone version.

    A product that monolith order lines still reference is protected (on_delete=PROTECT): the
    ProtectedError fails the event, which is retried and then dead-lettered with the reason.
    """
    Product.objects.filter(pk=event.data["id"]).delete()


HANDLERS = foreign_events_only(
    {
        "catalog.category.upserted": apply_category_upserted,
        "catalog.category.deleted": apply_category_deleted,
        "catalog.product.upserted": apply_product_upserted,
        "catalog.product.deleted": apply_product_deleted,
    }
)
