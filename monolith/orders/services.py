"""Order writes: placing (with stock reservation), cancelling and moving through statuses.

While the monolith writes inventory, placing an order reserves its stock in the same transaction.
Once the inventory service writes it (strangler.ownership), the order is placed `pending` with a
saga waiting for the service's answer (docs/adr/0012-orders-across-the-split.md): the service
reserves or refuses, and the answer confirms the order or rejects it (cancelled, with the reason);
`expire_sagas` rejects an order the service did not answer in time.
"""

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
from strangler.ownership.guard import NotWriterError, require_writer
from strangler.sagas.models import Saga, SagaState
from strangler.sagas.services import saga_end, saga_start

logger = logging.getLogger(__name__)

# The saga that reserves an order's stock once inventory is written by its service
# (STRANGLER_SAGAS['TYPES'] names its timeout and on_timeout).
PLACE_ORDER_SAGA = "orders.place_order"
RESERVE_STOCK = "reserve_stock"
CONFIRMED = "confirmed"
REFUSED = "refused"
CANCELLED = "cancelled"


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


def inventory_written_here() -> bool:
    """True while this side writes inventory: stock is reserved in the order's transaction.

    False once the inventory service writes it: the order waits for the service's answer. Raises
    WritesFrozenError (503) while a cutover moves inventory's writes. Takes the inventory write
    fence, so a cutover cannot flip the writer between this answer and the commit.
    """
    try:
        require_writer("inventory")
    except NotWriterError:
        return False
    return True


def stock_pending(order: Order) -> bool:
    """The order waits for the inventory service to reserve its stock (a saga in flight)."""
    return Saga.objects.filter(
        saga_type=PLACE_ORDER_SAGA, key=str(order.pk), state=SagaState.WAITING
    ).exists()


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
    if inventory_written_here():
        # Raises InsufficientStock when short, which rolls back the order with everything above.
        stock_reserve(
            order_id=order.pk,
            requests=[
                StockRequest(sku=line.sku, quantity=line.quantity) for line in order.lines.all()
            ],
        )
    else:
        # The inventory service answers the placed event: reserved (confirm) or refused (reject).
        saga_start(saga_type=PLACE_ORDER_SAGA, key=order.pk, step=RESERVE_STOCK)
    logger.info("order placed", extra={"order_id": order.pk, "total": str(total)})
    return order


@transaction.atomic
def order_cancel(*, order: Order, reason: str = "") -> Order:
    """Cancel a pending or paid order and release the stock it holds."""
    order = _lock(order)
    _check_transition(order, OrderStatus.CANCELLED)
    return _cancel_locked(order, reason=reason)


def _cancel_locked(order: Order, *, reason: str) -> Order:
    previous_status = order.status
    order.status = OrderStatus.CANCELLED
    order.save(update_fields=["status", "updated_at"])
    if inventory_written_here():
        stock_release(order_id=order.pk)
    else:
        # The service releases what it holds for the order on the cancelled event (or, if it
        # has not answered the placed event yet, never reserves it); a waiting saga ends here.
        saga_end(saga_type=PLACE_ORDER_SAGA, key=order.pk, outcome=CANCELLED, compensated=True)
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
    if to_status == OrderStatus.PAID and stock_pending(order):
        raise InvalidTransition(
            f"Order {order.pk} waits for its stock to be reserved; it can be paid once the "
            "reservation is confirmed."
        )
    order.status = to_status
    order.save(update_fields=["status", "updated_at"])
    if to_status == OrderStatus.SHIPPED:
        # Across the split shipping would be a saga step of its own (not built yet): while the
        # service writes inventory, require_writer refuses it with 409 naming the writer.
        require_writer("inventory")
        stock_fulfil(order_id=order.pk)
    order = _reload(order)
    _record_upserted(order)
    logger.info("order status changed", extra={"order_id": order.pk, "status": to_status})
    return order


@transaction.atomic
def order_stock_confirmed(*, order_id: int) -> bool:
    """The inventory service reserved the order's stock: its saga completes, the order stays
    pending (payable). False when no saga waits (a replayed or late answer: nothing changes)."""
    saga = saga_end(saga_type=PLACE_ORDER_SAGA, key=order_id, outcome=CONFIRMED, compensated=False)
    if saga is not None:
        logger.info("order stock confirmed", extra={"order_id": order_id})
    return saga is not None


@transaction.atomic
def order_stock_refused(*, order_id: int, reason: str) -> bool:
    """The inventory service refused the order's stock: the order is rejected (cancelled with
    the reason). False when no saga waits (a replayed or late answer: nothing changes)."""
    saga = saga_end(
        saga_type=PLACE_ORDER_SAGA, key=order_id, outcome=REFUSED, compensated=True, detail=reason
    )
    if saga is None:
        return False
    order_reject(order_id=order_id, reason=f"rejected: {reason}")
    return True


@transaction.atomic
def order_reject(*, order_id: int, reason: str) -> Order | None:
    """Cancel a pending order whose stock could not be had, recording why; its cancelled event
    asks the inventory service to release anything it reserved for it late. None when the order
    is no longer pending (cancelled by its customer meanwhile)."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status != OrderStatus.PENDING:
        return None
    order = _cancel_locked(order, reason=reason[:200])
    logger.info("order rejected", extra={"order_id": order_id, "reason": reason})
    return order


def order_placement_timed_out(saga: Saga) -> None:
    """STRANGLER_SAGAS on_timeout of PLACE_ORDER_SAGA: the service did not answer in time, so the
    order is rejected (the saga then ends as timed out)."""
    order_reject(
        order_id=int(saga.key),
        reason=f"rejected: {saga.context} did not confirm the stock in time",
    )
