"""factory-boy factories for the monolith's models; rows made directly, without events."""

from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from monolith.catalog.models import Category, Product
from monolith.customers.models import Address, Customer
from monolith.inventory.models import StockItem
from monolith.orders.models import Order, OrderLine, OrderStatus


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    parent = None


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    description = "A thing to sell."
    price = Decimal("10.00")
    currency = "EUR"
    category = factory.SubFactory(CategoryFactory)
    active = True


class StockItemFactory(DjangoModelFactory):
    class Meta:
        model = StockItem

    product = factory.SubFactory(ProductFactory)
    sku = factory.LazyAttribute(lambda stock: stock.product.sku)
    on_hand = 100
    reserved = 0


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@shop.test")
    name = factory.Sequence(lambda n: f"Customer {n}")


class AddressFactory(DjangoModelFactory):
    class Meta:
        model = Address

    customer = factory.SubFactory(CustomerFactory)
    line1 = "1 Main Street"
    city = "Berlin"
    postal_code = "10115"
    country = "DE"
    is_default = False


class OrderFactory(DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    status = OrderStatus.PENDING
    total = Decimal("10.00")
    currency = "EUR"


class OrderLineFactory(DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    sku = factory.LazyAttribute(lambda line: line.product.sku)
    quantity = 1
    unit_price = Decimal("10.00")
