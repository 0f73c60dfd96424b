"""Integration events of the customers context: types and payload builders."""

from __future__ import annotations

from typing import Any

from monolith.common.payloads import utc_timestamp
from monolith.customers.models import Customer

CUSTOMER_UPSERTED = "customers.customer.upserted"
CUSTOMER_DELETED = "customers.customer.deleted"


def customer_upserted_payload(customer: Customer) -> dict[str, Any]:
    """Full snapshot of a customer with its addresses (in id order)."""
    return {
        "id": customer.pk,
        "email": customer.email,
        "name": customer.name,
        "created_at": utc_timestamp(customer.created_at),
        "updated_at": utc_timestamp(customer.updated_at),
        "addresses": [
            {
                "id": address.pk,
                "line1": address.line1,
                "city": address.city,
                "postal_code": address.postal_code,
                "country": address.country,
                "is_default": address.is_default,
            }
            for address in sorted(customer.addresses.all(), key=lambda a: a.pk)
        ],
    }


def customer_deleted_payload(pk: int) -> dict[str, Any]:
    """Payload of `customers.customer.deleted`."""
    return {"id": pk}
