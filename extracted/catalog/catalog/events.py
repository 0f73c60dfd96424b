"""Integration events the catalog service records once it owns the catalog's writes."""

from __future__ import annotations

from typing import Any

from extracted.catalog.catalog.models import Category, Product
from shared_contracts.payloads import money_text, utc_timestamp

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
        "price": money_text(product.price),
        "currency": product.currency,
        "category_id": product.category_id,
        "active": product.active,
        "created_at": utc_timestamp(product.created_at),
        "updated_at": utc_timestamp(product.updated_at),
    }


def deleted_payload(pk: int) -> dict[str, Any]:
    """Payload of a `...deleted` event: only the id of what is gone."""
    return {"id": pk}
