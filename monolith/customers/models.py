"""Customer models: customers and their addresses."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

country_validator = RegexValidator(
    r"^[A-Z]{2}$", "Use a two-letter ISO 3166-1 country code in capitals, e.g. DE."
)


class Customer(models.Model):
    """Someone who places orders; the email address is unique (stored lower-case)."""

    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=200)
    # The shop user who is this customer: they see and change this record and its orders only.
    # Empty for customers created by staff for someone without a login.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Address(models.Model):
    """A postal address of a customer; at most one per customer is the default."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    line1 = models.CharField(max_length=200)
    city = models.CharField(max_length=100)
    postal_code = models.CharField(max_length=20)
    country = models.CharField(max_length=2, validators=[country_validator])
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(is_default=True),
                name="customers_one_default_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.line1}, {self.postal_code} {self.city}, {self.country}"
