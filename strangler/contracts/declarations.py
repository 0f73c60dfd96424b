"""The event catalog: every event type of the published language, its kind, owner and meaning."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# <context>.<aggregate>.<verb>, lower-case words: it is also the RabbitMQ routing key.
EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class EventKind(enum.StrEnum):
    """State transfer keeps copies in sync; a domain event tells that something happened."""

    STATE_TRANSFER = "state-transfer"
    DOMAIN = "domain"


class UnknownCatalogEntry(LookupError):
    """The catalog lists no such event type."""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type: `type` names the context, the aggregate and what happened to it.

    `producer` is the bounded context that owns the aggregate and alone writes it: the
    monolith's app of that name until cutover, the extracted service after it. `subject` says
    what the CloudEvents `subject` attribute carries (the aggregate id the ordering is per).
    """

    type: str
    kind: EventKind
    producer: str
    description: str
    subject: str

    def __post_init__(self) -> None:
        if not EVENT_TYPE_PATTERN.match(self.type):
            raise ValueError(f"event type {self.type!r} is not <context>.<aggregate>.<verb>")

    @property
    def context(self) -> str:
        """`catalog` for `catalog.product.upserted`."""
        return self.type.split(".")[0]

    @property
    def aggregate(self) -> str:
        """`product` for `catalog.product.upserted`."""
        return self.type.split(".")[1]

    @property
    def aggregate_type(self) -> str:
        """`catalog.product` for `catalog.product.upserted` (the outbox's aggregate type)."""
        return self.type.rsplit(".", 1)[0]

    @property
    def verb(self) -> str:
        """`upserted` for `catalog.product.upserted`."""
        return self.type.split(".")[2]


_S = EventKind.STATE_TRANSFER
_D = EventKind.DOMAIN

CATALOG: tuple[EventSpec, ...] = (
    EventSpec(
        "catalog.category.upserted",
        _S,
        "catalog",
        "Full snapshot of a category after it was created or changed.",
        "category id",
    ),
    EventSpec(
        "catalog.category.deleted",
        _S,
        "catalog",
        "A category was deleted; readers drop their copy.",
        "category id",
    ),
    EventSpec(
        "catalog.product.upserted",
        _S,
        "catalog",
        "Full snapshot of a product (price, currency, category, active flag) after any change.",
        "product id",
    ),
    EventSpec(
        "catalog.product.deleted",
        _S,
        "catalog",
        "A product was deleted; readers drop their copy.",
        "product id",
    ),
    EventSpec(
        "customers.customer.upserted",
        _S,
        "customers",
        "Full snapshot of a customer with all addresses after any change.",
        "customer id",
    ),
    EventSpec(
        "customers.customer.deleted",
        _S,
        "customers",
        "A customer and their addresses were deleted; readers drop their copy.",
        "customer id",
    ),
    EventSpec(
        "inventory.stock.upserted",
        _S,
        "inventory",
        "Full snapshot of the stock of one SKU (on hand, reserved, available) after any change.",
        "stock item id",
    ),
    EventSpec(
        "inventory.stock.reserved",
        _D,
        "inventory",
        "Units of a SKU were reserved for an order.",
        "stock item id",
    ),
    EventSpec(
        "inventory.stock.released",
        _D,
        "inventory",
        "Units reserved for an order were given back because the order was cancelled.",
        "stock item id",
    ),
    EventSpec(
        "orders.order.upserted",
        _S,
        "orders",
        "Full snapshot of an order with its lines and status after any change.",
        "order id",
    ),
    EventSpec(
        "orders.order.placed",
        _D,
        "orders",
        "A customer placed an order: what was bought, at which prices, for what total.",
        "order id",
    ),
    EventSpec(
        "orders.order.cancelled",
        _D,
        "orders",
        "An order was cancelled (with the status it had and why); its stock is released.",
        "order id",
    ),
)

_BY_TYPE = {spec.type: spec for spec in CATALOG}


def event_spec(event_type: str) -> EventSpec:
    """The catalog entry of one event type."""
    try:
        return _BY_TYPE[event_type]
    except KeyError:
        raise UnknownCatalogEntry(
            f"event type {event_type!r} is not in shared_contracts/catalog.py"
        ) from None


def catalog_types() -> list[str]:
    """Every event type the catalog lists, sorted."""
    return sorted(_BY_TYPE)


def contexts() -> list[str]:
    """The bounded contexts that publish events, sorted."""
    return sorted({spec.context for spec in CATALOG})
