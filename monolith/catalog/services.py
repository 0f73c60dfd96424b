"""Catalog writes: every change records its state-transfer event in the same transaction.

Each write first asks strangler.ownership whether the monolith still writes the catalog: after a
cutover to the catalog service it refuses (HTTP 409 naming the writer), during one it answers 503.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from monolith.catalog import events
from monolith.catalog.models import Category, Product
from strangler.api import DomainError
from strangler.outbox import record_event
from strangler.ownership.guard import require_writer

CONTEXT = "catalog"

CATEGORY_FIELDS = frozenset({"name", "slug", "parent"})
PRODUCT_FIELDS = frozenset(
    {"sku", "name", "description", "price", "currency", "category", "active"}
)


class CategoryInUse(DomainError):
    """A category that still has children or products cannot be deleted."""

    code = "category_in_use"


class ProductInUse(DomainError):
    """A product that order lines or stock records point at cannot be deleted."""

    code = "product_in_use"


def _apply_changes(instance: Any, changes: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        setattr(instance, field, value)


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
    require_writer(CONTEXT)
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
    require_writer(CONTEXT)
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
    require_writer(CONTEXT)
    pk = category.pk
    try:
        category.delete()
    except ProtectedError as exc:
        raise CategoryInUse(
            f"Category {pk} still has subcategories or products; move them elsewhere first."
        ) from exc
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
    require_writer(CONTEXT)
    product = Product(
        sku=sku,
        name=name,
        description=description,
        price=price,
        currency=currency,
        category=category,
        active=active,
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
    require_writer(CONTEXT)
    _apply_changes(product, changes, PRODUCT_FIELDS)
    product.full_clean()
    product.save()
    record_event(
        events.PRODUCT_UPSERTED, subject=product.pk, data=events.product_upserted_payload(product)
    )
    return product


@transaction.atomic
def product_delete(*, product: Product) -> None:
    """Delete a product nothing refers to; otherwise refuse and suggest deactivating it."""
    require_writer(CONTEXT)
    pk = product.pk
    try:
        # Order lines and stock records protect their product (on_delete=PROTECT).
        product.delete()
    except ProtectedError as exc:
        raise ProductInUse(
            f"Product {pk} is referenced by orders or stock; deactivate it (active=false) instead."
        ) from exc
    record_event(events.PRODUCT_DELETED, subject=pk, data=events.deleted_payload(pk))
