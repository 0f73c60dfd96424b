"""Catalog reads of the service: querysets for the APIs and lookups for other code."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from extracted.catalog.catalog.models import Category, Product


def category_list() -> QuerySet[Category]:
    """All categories, in id order."""
    return Category.objects.order_by("id")


def category_get(*, category_id: int) -> Category:
    """One category; 404 when missing."""
    return get_object_or_404(Category, pk=category_id)


def product_list() -> QuerySet[Product]:
    """All products, in id order; the API layers filtering, search and ordering on top."""
    return Product.objects.order_by("id")


def product_get(*, product_id: int) -> Product:
    """One product; 404 when missing."""
    return get_object_or_404(Product, pk=product_id)
