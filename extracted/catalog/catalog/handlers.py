"""Inbox handlers of the catalog service: the one place that maps event types to functions.

Each handler is a batch handler: it applies a run of state-transfer events of one type to this
service's own tables in one statement. The inbox has already validated and upcast the events,
dropped duplicates and stale versions, and runs the handler in the transaction that records the
events as applied.
"""

from __future__ import annotations

from typing import Any

from extracted.catalog.catalog.models import Category, Product, ProductReference
from strangler.contracts.envelope import Envelope
from strangler.db import upsert_rows
from strangler.inbox.handlers import batch_handler, newest_per_key
from strangler.ownership.echo import foreign_events_only

CATEGORY_FIELDS = ("id", "name", "slug", "parent")
PRODUCT_FIELDS = (
    "id",
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "category",
    "active",
    "created_at",
    "updated_at",
)


def _newest(events: list[Envelope]) -> list[Envelope]:
    return newest_per_key(events, key=lambda event: event.data["id"])


def _upsert(
    model: type[Category] | type[Product], fields: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert the rows or replace their fields, in one statement (INSERT ... ON CONFLICT UPDATE).

    One round trip for the whole run instead of update_or_create's lock, savepoints and second
    statement per row: the inbox already holds the aggregates' version row locks, so no other
    consumer races this write.
    """
    upsert_rows(model, fields, rows, conflict=("id",), update=fields[1:])


def _category(data: dict[str, Any]) -> tuple[Any, ...]:
    return (data["id"], data["name"], data["slug"], data["parent_id"])


def _product(data: dict[str, Any]) -> tuple[Any, ...]:
    # The price and the times stay the text the contract validated (a decimal string, ISO 8601
    # in UTC): the database parses them, as it would parse a Decimal or a datetime turned back
    # into text, and the consumer does not build either for each event.
    return (
        data["id"],
        data["sku"],
        data["name"],
        data["description"],
        data["price"],
        data["currency"],
        data["category_id"],
        data["active"],
        data["created_at"],
        data["updated_at"],
    )


@batch_handler
def apply_categories_upserted(events: list[Envelope]) -> None:
    """Create or replace categories with their newest snapshots (the monolith's id is the key)."""
    _upsert(Category, CATEGORY_FIELDS, [_category(event.data) for event in _newest(events)])


@batch_handler
def apply_categories_deleted(events: list[Envelope]) -> None:
    """Remove categories in one statement; the inbox keeps their tombstone versions."""
    Category.objects.filter(pk__in={event.data["id"] for event in events}).delete()


@batch_handler
def apply_products_upserted(events: list[Envelope]) -> None:
    """Create or replace products with their newest snapshots, timestamps included."""
    _upsert(Product, PRODUCT_FIELDS, [_product(event.data) for event in _newest(events)])


@batch_handler
def apply_products_deleted(events: list[Envelope]) -> None:
    """Remove products in one statement; the inbox keeps their tombstone versions."""
    Product.objects.filter(pk__in={event.data["id"] for event in events}).delete()


def _reference(rows: set[tuple[int, str, int]]) -> None:
    ProductReference.objects.bulk_create(
        [ProductReference(product_id=p, referrer=r, referrer_id=i) for p, r, i in sorted(rows)],
        ignore_conflicts=True,
    )


@batch_handler
def apply_orders_placed(events: list[Envelope]) -> None:
    """Orders reference their lines' products: those can no longer be deleted here."""
    _reference(
        {
            (line["product_id"], "order", event.data["order_id"])
            for event in events
            for line in event.data["lines"]
        }
    )


@batch_handler
def apply_stock_referencing(events: list[Envelope]) -> None:
    """A stock item references its product: that product can no longer be deleted here."""
    _reference({(event.data["product_id"], "stock", event.data["id"]) for event in events})


# foreign_events_only: after a cutover this service is the writer and receives its own events
# back on its queue; they are recorded by the inbox but never applied again (no echo).
HANDLERS = foreign_events_only(
    {
        "catalog.category.upserted": apply_categories_upserted,
        "catalog.category.deleted": apply_categories_deleted,
        "catalog.product.upserted": apply_products_upserted,
        "catalog.product.deleted": apply_products_deleted,
        # What refuses the deletion of a product in use, as the monolith's foreign keys do.
        "orders.order.placed": apply_orders_placed,
        "inventory.stock.upserted": apply_stock_referencing,
    }
)
