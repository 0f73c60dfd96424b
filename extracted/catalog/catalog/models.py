"""Catalog models of the service: the monolith's categories and products, keyed by its ids.

References between aggregates (a product's category, a category's parent) carry no database
constraint: events of different aggregates may arrive in any order, and a projection must accept
a product before its category arrives. Each aggregate's own order is kept by the inbox.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

currency_validator = RegexValidator(
    r"^[A-Z]{3}$", "Use a three-letter ISO 4217 currency code in capitals, e.g. EUR."
)


class Category(models.Model):
    """A node of the category tree; a root has no parent."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="children",
    )

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """Something the shop sells, identified by its SKU."""

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.00"))]
    )
    currency = models.CharField(max_length=3, validators=[currency_validator])
    category = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="products",
    )
    active = models.BooleanField(default=True)
    # Set explicitly (from the event, or by services.py): the monolith's timestamps are the truth.
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["active", "price"], name="catalog_product_active_price")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ProductReference(models.Model):
    """Something of another context that points at a product, so the product cannot be deleted.

    The monolith refuses to delete a product that an order line or a stock item points at (its
    foreign keys PROTECT it); here those rows live in other services, so their events keep this
    projection: an order placed (`orders.order.placed`, one row per line's product) and a stock
    item (`inventory.stock.upserted`). Neither orders nor stock items are ever deleted.
    """

    product_id = models.BigIntegerField(db_index=True)
    # "order" or "stock", and the referring row's id there.
    referrer = models.CharField(max_length=16)
    referrer_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["referrer", "referrer_id", "product_id"], name="catalog_product_reference"
            )
        ]

    def __str__(self) -> str:
        return f"product {self.product_id} <- {self.referrer} {self.referrer_id}"
