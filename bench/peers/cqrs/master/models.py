"""The master model: the catalog product's fields plus the writer's commit stamp."""

from __future__ import annotations

from dj_cqrs.mixins import MasterMixin
from django.db import models


class Product(MasterMixin, models.Model):
    """A product replicated by django-cqrs on every committed save."""

    CQRS_ID = "bench_product"

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    category_id = models.BigIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # When the writer committed the row: the replica's lag is measured from here.
    stamped_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.sku
