"""Catalog writes of the service; refused while the monolith owns the catalog's writes.

Exactly one side writes a context at a time (no dual writes): the control database says which
(strangler.ownership). Until cutover the monolith is the writer and these services raise
NotWriterError (HTTP 409); while a cutover runs they raise WritesFrozenError (HTTP 503). After
cutover they write and record the same state-transfer events the monolith did.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from extracted.catalog.catalog import events
from extracted.catalog.catalog.models import Category, Product, ProductReference
from strangler.api import DomainError
from strangler.outbox import record_event
from strangler.ownership.guard import require_writer

CONTEXT = "catalog"
CATEGORY_FIELDS = frozenset({"name", "slug", "parent"})
PRODUCT_FIELDS = frozenset(
    {"sku", "name", "description", "price", "currency", "category", "active"}
)


class ProductInUse(DomainError):
    """A product that order lines or stock records point at cannot be deleted."""

    code = "product_in_use"


class CategoryInUse(DomainError):
    """A category that still has children or products cannot be deleted."""

    code = "category_in_use"


def ensure_catalog_writer() -> None:
    """Refuse unless this service writes the catalog now (strangler.ownership decides)."""
    require_writer(CONTEXT)


def _apply_changes(instance: Any, changes: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(instance, name, value)


def _check_parent(category: Category, parent: Category | None) -> None:
    """A category may not sit below itself: that would make the tree a cycle."""
    node = parent
    while node is not None:
        if category.pk is not None and node.pk == category.pk:
            raise ValidationError({"parent": ["A category cannot be its own ancestor."]})
        node = node.parent


@transaction.atomic
def category_create(*, name: str, slug: str, parent: Category | None = None) -> Category:
    """Create a category (a root when `parent` is None)."""
    ensure_catalog_writer()
    category = Category(name=name, slug=slug, parent=parent)
    category.full_clean()
    category.save()
    record_event(
        events.CATEGORY_UPSERTED,
        subject=category.pk,
        data=events.category_upserted_payload(category),
    )
    return category


@transaction.atomic
def category_update(*, category: Category, changes: Mapping[str, Any]) -> Category:
    """Change some fields of a category (name, slug, parent)."""
    ensure_catalog_writer()
    _apply_changes(category, changes, CATEGORY_FIELDS)
    if "parent" in changes:
        _check_parent(category, category.parent)
    category.full_clean()
    category.save()
    record_event(
        events.CATEGORY_UPSERTED,
        subject=category.pk,
        data=events.category_upserted_payload(category),
    )
    return category


@transaction.atomic
def category_delete(*, category: Category) -> None:
    """Delete a category nothing uses; refuse while subcategories or products point at it."""
    ensure_catalog_writer()
    pk = category.pk
    if (
        Category.objects.filter(parent_id=pk).exists()
        or Product.objects.filter(category_id=pk).exists()
    ):
        raise CategoryInUse(
            f"Category {pk} still has subcategories or products; move them elsewhere first."
        )
    category.delete()
    record_event(events.CATEGORY_DELETED, subject=pk, data=events.deleted_payload(pk))


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    currency: str,
    description: str = "",
    category: Category | None = None,
    active: bool = True,
) -> Product:
    """Create a product."""
    ensure_catalog_writer()
    now = timezone.now()
    product = Product(
        sku=sku,
        name=name,
        description=description,
        price=price,
        currency=currency,
        category=category,
        active=active,
        created_at=now,
        updated_at=now,
    )
    product.full_clean()
    product.save()
    record_event(
        events.PRODUCT_UPSERTED, subject=product.pk, data=events.product_upserted_payload(product)
    )
    return product


@transaction.atomic
def product_update(*, product: Product, changes: Mapping[str, Any]) -> Product:
    """Change some fields of a product; deactivating is how a product leaves the shop."""
    ensure_catalog_writer()
    _apply_changes(product, changes, PRODUCT_FIELDS)
    product.updated_at = timezone.now()
    product.full_clean()
    product.save()
    record_event(
        events.PRODUCT_UPSERTED, subject=product.pk, data=events.product_upserted_payload(product)
    )
    return product


@transaction.atomic
def product_delete(*, product: Product) -> None:
    """Delete a product nothing points at; refuse (as the monolith does) while orders or stock
    records of the other services reference it (ProductReference, kept from their events)."""
    ensure_catalog_writer()
    pk = product.pk
    if ProductReference.objects.filter(product_id=pk).exists():
        raise ProductInUse(
            f"Product {pk} is referenced by orders or stock; deactivate it (active=false) instead."
        )
    product.delete()
    record_event(events.PRODUCT_DELETED, subject=pk, data=events.deleted_payload(pk))
