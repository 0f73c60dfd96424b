"""Customer writes: every change records the customer's snapshot event in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from monolith.customers import events
from monolith.customers.models import Address, Customer
from strangler.api import DomainError
from strangler.outbox import record_event

CUSTOMER_FIELDS = frozenset({"email", "name"})


class CustomerInUse(DomainError):
    """A customer with orders cannot be deleted."""

    code = "customer_in_use"


@dataclass(frozen=True)
class AddressData:
    """An address as given by a caller, before it is stored."""

    line1: str
    city: str
    postal_code: str
    country: str
    is_default: bool = False


def _replace_addresses(customer: Customer, addresses: Sequence[AddressData]) -> None:
    defaults = sum(1 for address in addresses if address.is_default)
    if defaults > 1:
        raise ValidationError({"addresses": ["At most one address can be the default."]})
    customer.addresses.all().delete()
    rows = []
    for index, data in enumerate(addresses):
        # With no default named, the first address is the default one.
        is_default = data.is_default or (defaults == 0 and index == 0)
        address = Address(
            customer=customer,
            line1=data.line1,
            city=data.city,
            postal_code=data.postal_code,
            country=data.country,
            is_default=is_default,
        )
        address.full_clean(exclude=["customer"])
        rows.append(address)
    Address.objects.bulk_create(rows)


def _record(customer: Customer) -> Customer:
    # Reloaded so the snapshot (and the caller) see the addresses this transaction wrote.
    customer = Customer.objects.prefetch_related("addresses").get(pk=customer.pk)
    record_event(
        events.CUSTOMER_UPSERTED,
        subject=customer.pk,
        data=events.customer_upserted_payload(customer),
    )
    return customer


@transaction.atomic
def customer_create(
    *, email: str, name: str, addresses: Sequence[AddressData] = (), user_id: int | None = None
) -> Customer:
    """Create a customer with its addresses, linked to the shop user `user_id` if given."""
    customer = Customer(email=email.strip().lower(), name=name, user_id=user_id)
    customer.full_clean()
    customer.save()
    _replace_addresses(customer, addresses)
    return _record(customer)


@transaction.atomic
def customer_update(*, customer: Customer, changes: Mapping[str, Any]) -> Customer:
    """Change email/name; an `addresses` entry replaces the whole address list."""
    unknown = set(changes) - CUSTOMER_FIELDS - {"addresses"}
    if unknown:
        raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
    for field in CUSTOMER_FIELDS & set(changes):
        value = changes[field]
        setattr(customer, field, value.strip().lower() if field == "email" else value)
    customer.full_clean()
    customer.save()
    if "addresses" in changes:
        _replace_addresses(customer, changes["addresses"])
    return _record(customer)


@transaction.atomic
def customer_delete(*, customer: Customer) -> None:
    """Delete a customer and their addresses; refuse while orders refer to them."""
    pk = customer.pk
    try:
        customer.delete()
    except ProtectedError as exc:
        raise CustomerInUse(
            f"Customer {pk} has orders; customers with an order history cannot be deleted."
        ) from exc
    record_event(events.CUSTOMER_DELETED, subject=pk, data=events.customer_deleted_payload(pk))
