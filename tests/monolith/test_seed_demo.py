"""`manage.py seed_demo`: bulk, idempotent, deterministic, consistent, and outside the outbox."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from monolith.catalog.models import Category, Product
from monolith.customers.models import Address, Customer
from monolith.inventory.models import Reservation, StockItem
from monolith.orders.models import Order, OrderLine, OrderStatus
from strangler.outbox.models import OutboxEvent
from tests.monolith.factories import ProductFactory

pytestmark = pytest.mark.django_db

SIZES = {"products": 40, "customers": 8, "orders": 30}


def seed(**options) -> dict:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", "--json", stdout=out, stderr=err, **{**SIZES, **options})
    return json.loads(out.getvalue())


def fingerprint() -> dict:
    """Everything seeded, minus timestamps and database ids."""
    product_skus = dict(Product.objects.values_list("pk", "sku"))
    customer_emails = dict(Customer.objects.values_list("pk", "email"))
    return {
        "categories": sorted(Category.objects.values_list("slug", "parent__slug")),
        "products": sorted(
            Product.objects.values_list(
                "sku", "name", "description", "price", "currency", "category__slug", "active"
            )
        ),
        "stock": sorted(StockItem.objects.values_list("sku", "on_hand", "reserved")),
        "customers": sorted(
            Customer.objects.values_list(
                "email", "name", "addresses__line1", "addresses__city", "addresses__is_default"
            )
        ),
        "orders": [
            (
                customer_emails[order.customer_id],
                order.status,
                order.total,
                [
                    (product_skus[line.product_id], line.quantity, line.unit_price)
                    for line in order.lines.order_by("id")
                ],
            )
            for order in Order.objects.order_by("id")
        ],
    }


def test_seeding_inserts_the_requested_counts_with_progress():
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **SIZES)
    assert Product.objects.count() == StockItem.objects.count() == 40
    assert Customer.objects.count() == 8
    assert Order.objects.count() == 30
    assert Category.objects.count() == 16
    assert Address.objects.count() >= 8
    assert "products: 40/40" in out.getvalue()
    assert "Inserted" in out.getvalue()


def test_a_second_run_with_the_same_sizes_adds_nothing():
    first = seed()
    before = fingerprint()
    second = seed()
    assert first["products"] == 40 and first["orders"] == 30
    inserted = {k: v for k, v in second.items() if k not in {"seconds", "timings"}}
    assert set(inserted.values()) == {0}
    assert fingerprint() == before


def test_larger_sizes_add_only_the_missing_rows():
    seed()
    report = seed(products=50, customers=10, orders=35)
    assert (report["products"], report["customers"], report["orders"]) == (10, 2, 5)
    assert Product.objects.count() == 50


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not():
    seed(seed=7)
    first = fingerprint()
    for model in (Reservation, OrderLine, Order, StockItem, Product, Address, Customer):
        model.objects.all().delete()
    Category.objects.filter(parent__isnull=False).delete()
    Category.objects.all().delete()
    seed(seed=7)
    assert fingerprint() == first
    Reservation.objects.all().delete()
    OrderLine.objects.all().delete()
    Order.objects.all().delete()
    StockItem.objects.all().delete()
    Product.objects.all().delete()
    seed(seed=8)
    assert fingerprint()["products"] != first["products"]


def test_seeded_data_is_consistent():
    seed(orders=60)
    for stock in StockItem.objects.all():
        open_units = Reservation.objects.filter(
            stock_item=stock, released=False, fulfilled=False
        ).aggregate(total=Sum("quantity"))["total"]
        assert stock.reserved == (open_units or 0)
        assert 0 <= stock.reserved <= stock.on_hand
    for order in Order.objects.prefetch_related("lines", "reservations"):
        assert order.total == sum(line.line_total for line in order.lines.all())
        open_reservations = [r for r in order.reservations.all() if r.is_open]
        assert bool(open_reservations) == (order.status in {OrderStatus.PENDING, OrderStatus.PAID})
    assert set(Order.objects.values_list("status", flat=True)) >= {"pending", "shipped"}


def test_seeding_records_no_outbox_events():
    seed()
    assert not OutboxEvent.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--products", "-1"], "negative"),
        (["--customers", "many"], "not a whole number"),
        (["--orders", "5", "--customers", "0"], "--orders needs"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_bad_options_are_clear_errors(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", *args, stdout=io.StringIO())


def test_a_product_named_like_a_demo_sku_does_not_break_a_rerun():
    ProductFactory(sku="DEMO-SPECIAL")
    seed()
    assert not StockItem.objects.filter(sku="DEMO-SPECIAL").exists()
    assert seed()["products"] == 0
