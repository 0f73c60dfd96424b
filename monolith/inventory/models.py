"""Inventory models: stock per SKU, the history of adjustments, and reservations for orders."""

from __future__ import annotations

from django.db import models

# The most units a stock count holds: PositiveIntegerField's range on every database.
MAX_UNITS = 2_147_483_647


class StockItem(models.Model):
    """Units on hand of one SKU; `reserved` of them are promised to open orders."""

    # The legacy monolith points straight at the catalog's product table.
    product = models.OneToOneField(
        "catalog.Product", on_delete=models.PROTECT, related_name="stock_item"
    )
    sku = models.CharField(max_length=64, unique=True)
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reserved__lte=models.F("on_hand")),
                name="inventory_stock_reserved_within_on_hand",
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available(self) -> int:
        """Units that can still be promised."""
        return self.on_hand - self.reserved


class StockAdjustment(models.Model):
    """One manual change of on-hand stock, with why it happened."""

    stock_item = models.ForeignKey(StockItem, on_delete=models.CASCADE, related_name="adjustments")
    delta = models.IntegerField()
    reason = models.CharField(max_length=200)
    on_hand_after = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.stock_item.sku} {self.delta:+d} ({self.reason})"


class Reservation(models.Model):
    """Units of a SKU held for an order until it ships (fulfilled) or is cancelled (released)."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="reservations")
    stock_item = models.ForeignKey(StockItem, on_delete=models.PROTECT, related_name="reservations")
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    released = models.BooleanField(default=False)
    fulfilled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["order", "released", "fulfilled"], name="inventory_resv_open")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku} for order {self.order_id}"

    @property
    def is_open(self) -> bool:
        return not (self.released or self.fulfilled)
