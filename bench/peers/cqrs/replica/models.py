"""The replica model: the master's fields, and when this side applied the change."""

from __future__ import annotations

from dj_cqrs.mixins import ReplicaMixin
from django.db import models


class ProductRef(ReplicaMixin, models.Model):
    """django-cqrs creates or updates this row for every message of CQRS_ID bench_product."""

    CQRS_ID = "bench_product"

    id = models.BigIntegerField(primary_key=True)
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    category_id = models.BigIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    stamped_at = models.DateTimeField()
    # Set by the save django-cqrs makes: when the change landed here (lag = applied - stamped).
    # null=True only because django-cqrs requires every non-null field in the master's payload.
    applied_at = models.DateTimeField(auto_now=True, null=True)

    def __str__(self) -> str:
        return self.sku
