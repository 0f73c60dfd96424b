"""Order writes: placing (with stock reservation), cancelling and moving through statuses."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from monolith.catalog.models import Product
from monolith.customers.models import Customer
from monolith.inventory.services import StockRequest, stock_fulfil, stock_release, stock_reserve
from monolith.orders import events
from monolith.orders.models import ALLOWED_TRANSITIONS, Order, OrderLine, OrderStatus
from strangler.api import DomainError
from strangler.outbox import record_event

logger = logging.getLogger(__name__)


class ProductUnavailable(DomainError):
    """An order asked for a product that is not for sale (inactive)."""

    code = "product_unavailable"


class MixedCurrencies(DomainError):
    """The products of one order are priced in different currencies."""

    code = "mixed_currencies"


class InvalidTransition(DomainError):
    """The order cannot move from its status to the one asked for."""

    code = "invalid_transition"


@dataclass(frozen=True)
class OrderLineRequest:
    """A line as a customer asks for it: which product, how many."""

    product_id: int
    quantity: int


def _reload(order: Order) -> Order:
    return Order.objects.prefetch_related("lines").get(pk=order.pk)


def _record_upserted(order: Order) -> None:
    record_event(events.ORDER_UPSERTED, subject=order.pk, data=events.order_upserted_payload(order))


def _check_transition(order: Order, to_status: str) -> None:
    allowed = ALLOWED_TRANSITIONS[order.status]
    if to_status not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (it is final)"
        raise InvalidTransition(
            f"Order {order.pk} is {order.status} and cannot become {to_status}; "
            f"it can become: {options}."
        )


def _lock(order: Order) -> Order:
    # Re-read under a row lock: two requests moving the same order must not both succeed.
    return Order.objects.select_for_update().get(pk=order.pk)


@transaction.atomic
def order_place(*, customer: Customer, lines: Sequence[OrderLineRequest]) -> Order:
    """Place an order at current product prices and reserve its stock, all or nothing."""
    if not lines:
        raise ValidationError({"lines": ["An order needs at least one line."]})
    product_ids = [line.product_id for line in lines]
    if len(set(product_ids)) != len(product_ids):
        raise ValidationError({"lines": ["List each product once; put the total in quantity."]})
    if any(line.quantity < 1 for line in lines):
        raise ValidationError({"lines": ["Every quantity must be at least 1."]})
    products = Product.objects.in_bulk(product_ids)
    missing = [pk for pk in product_ids if pk not in products]
    if missing:
        raise ValidationError(
            {"lines": [f"No product with id {', '.join(str(pk) for pk in missing)}."]}
        )
    inactive = sorted(p.sku for p in products.values() if not p.active)
    if inactive:
        raise ProductUnavailable(f"Not for sale (inactive): {', '.join(inactive)}.")
    currencies = sorted({p.currency for p in products.values()})
    if len(currencies) > 1:
        raise MixedCurrencies(
            f"The products are priced in {', '.join(currencies)}; one order has one currency."
        )
    total = sum(
        (products[line.product_id].price * line.quantity for line in lines), Decimal("0.00")
    )
    order = Order.objects.create(
        customer=customer, status=OrderStatus.PENDING, total=total, currency=currencies[0]
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=products[line.product_id],
            sku=products[line.product_id].sku,
            quantity=line.quantity,
            unit_price=products[line.product_id].price,
        )
        for line in lines
    )
    order = _reload(order)
    record_event(events.ORDER_PLACED, subject=order.pk, data=events.order_placed_payload(order))
    _record_upserted(order)
    # Raises InsufficientStock when short, which rolls back the order with everything above.
    stock_reserve(
        order_id=order.pk,
        requests=[StockRequest(sku=line.sku, quantity=line.quantity) for line in order.lines.all()],
    )
    logger.info("order placed", extra={"order_id": order.pk, "total": str(total)})
    return order


@transaction.atomic
def order_cancel(*, order: Order, reason: str = "") -> Order:
    """Cancel a pending or paid order and release the stock it holds."""
    order = _lock(order)
    _check_transition(order, OrderStatus.CANCELLED)
    previous_status = order.status
    order.status = OrderStatus.CANCELLED
    order.save(update_fields=["status", "updated_at"])
    stock_release(order_id=order.pk)
    order = _reload(order)
    record_event(
        events.ORDER_CANCELLED,
        subject=order.pk,
        data=events.order_cancelled_payload(order, previous_status=previous_status, reason=reason),
    )
    _record_upserted(order)
    logger.info("order cancelled", extra={"order_id": order.pk, "from": previous_status})
    return order


@transaction.atomic
def order_transition(*, order: Order, to_status: str) -> Order:
    """Move an order to another status; shipping consumes its reserved stock."""
    if to_status == OrderStatus.CANCELLED:
        return order_cancel(order=order, reason="cancelled by status transition")
    order = _lock(order)
    _check_transition(order, to_status)
    order.status = to_status
    order.save(update_fields=["status", "updated_at"])
    if to_status == OrderStatus.SHIPPED:
        stock_fulfil(order_id=order.pk)
    order = _reload(order)
    _record_upserted(order)
    logger.info("order status changed", extra={"order_id": order.pk, "status": to_status})
    return order
