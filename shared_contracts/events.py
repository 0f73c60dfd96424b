"""Every event type of the shop's published language: its kind, producer and meaning.

`kind` is "state-transfer" (a full snapshot that keeps copies in sync) or "domain" (something
happened); `producer` is the bounded context that owns the aggregate; `subject` is what the
CloudEvents `subject` attribute carries (the aggregate id that ordering is per).
"""

from __future__ import annotations

EVENTS: list[dict[str, str]] = [
    {
        "type": "catalog.category.upserted",
        "kind": "state-transfer",
        "producer": "catalog",
        "subject": "category id",
        "description": "Full snapshot of a category after it was created or changed.",
    },
    {
        "type": "catalog.category.deleted",
        "kind": "state-transfer",
        "producer": "catalog",
        "subject": "category id",
        "description": "A category was deleted; readers drop their copy.",
    },
    {
        "type": "catalog.product.upserted",
        "kind": "state-transfer",
        "producer": "catalog",
        "subject": "product id",
        "description": (
            "Full snapshot of a product (price, currency, category, active flag) after any change."
        ),
    },
    {
        "type": "catalog.product.deleted",
        "kind": "state-transfer",
        "producer": "catalog",
        "subject": "product id",
        "description": "A product was deleted; readers drop their copy.",
    },
    {
        "type": "customers.customer.upserted",
        "kind": "state-transfer",
        "producer": "customers",
        "subject": "customer id",
        "description": "Full snapshot of a customer with all addresses after any change.",
    },
    {
        "type": "customers.customer.deleted",
        "kind": "state-transfer",
        "producer": "customers",
        "subject": "customer id",
        "description": "A customer and their addresses were deleted; readers drop their copy.",
    },
    {
        "type": "inventory.stock.upserted",
        "kind": "state-transfer",
        "producer": "inventory",
        "subject": "stock item id",
        "description": (
            "Full snapshot of the stock of one SKU (on hand, reserved, available) after any change."
        ),
    },
    {
        "type": "inventory.stock.reserved",
        "kind": "domain",
        "producer": "inventory",
        "subject": "stock item id",
        "description": "Units of a SKU were reserved for an order.",
    },
    {
        "type": "inventory.stock.released",
        "kind": "domain",
        "producer": "inventory",
        "subject": "stock item id",
        "description": (
            "Units reserved for an order were given back because the order was cancelled."
        ),
    },
    {
        "type": "inventory.reservation.refused",
        "kind": "domain",
        "producer": "inventory",
        "subject": "order id",
        "description": (
            "The stock an order asked for could not be reserved (out of stock); nothing is held "
            "for it, and the order is rejected."
        ),
    },
    {
        "type": "orders.order.upserted",
        "kind": "state-transfer",
        "producer": "orders",
        "subject": "order id",
        "description": "Full snapshot of an order with its lines and status after any change.",
    },
    {
        "type": "orders.order.placed",
        "kind": "domain",
        "producer": "orders",
        "subject": "order id",
        "description": (
            "A customer placed an order: what was bought, at which prices, for what total."
        ),
    },
    {
        "type": "orders.order.cancelled",
        "kind": "domain",
        "producer": "orders",
        "subject": "order id",
        "description": (
            "An order was cancelled (with the status it had and why); its stock is released."
        ),
    },
]
