"""Integration events the catalog service records once it owns the catalog's writes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from extracted.catalog.catalog.models import Category, Product

CATEGORY_UPSERTED = "catalog.category.upserted"
CATEGORY_DELETED = "catalog.category.deleted"
PRODUCT_UPSERTED = "catalog.product.upserted"
PRODUCT_DELETED = "catalog.product.deleted"


def category_upserted_payload(category: Category) -> dict[str, Any]:
    """Full snapshot of a category (catalog.category.upserted v1)."""
    return {
        "id": category.pk,
        "name": category.name,
        "slug": category.slug,
        "parent_id": category.parent_id,
    }


def product_upserted_payload(product: Product) -> dict[str, Any]:
    """Full snapshot of a product (catalog.product.upserted v1)."""
    return {
        "id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price": f"{Decimal(product.price):.2f}",
        "currency": product.currency,
        "category_id": product.category_id,
        "active": product.active,
        "created_at": utc_timestamp(product.created_at),
        "updated_at": utc_timestamp(product.updated_at),
    }


def deleted_payload(pk: int) -> dict[str, Any]:
    """Payload of a `...deleted` event: only the id of what is gone."""
    return {"id": pk}


def utc_timestamp(value: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a trailing Z (the schema's format)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
