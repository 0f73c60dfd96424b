"""Deterministic demo data, bulk-inserted like legacy rows that predate the outbox."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from monolith.catalog.models import Category, Product
from monolith.customers.models import Address, Customer
from monolith.inventory.models import Reservation, StockItem
from monolith.orders.models import Order, OrderLine, OrderStatus

logger = logging.getLogger(__name__)

SKU_PREFIX = "DEMO-"
EMAIL_DOMAIN = "demo.example"
CURRENCY = "EUR"

# (root, [children]) of the demo category tree; slugs are derived, so they never change.
CATEGORY_TREE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Tools", ("Hand tools", "Power tools", "Measuring")),
    ("Garden", ("Plants", "Watering", "Furniture")),
    ("Kitchen", ("Cookware", "Cutlery", "Storage")),
    ("Office", ("Paper", "Writing", "Desk")),
)
ADJECTIVES = (
    "Compact", "Sturdy", "Classic", "Deluxe", "Eco", "Heavy-duty", "Light", "Modern", "Pro",
    "Rustic", "Smart", "Travel", "Vintage", "Slim", "Foldable", "Premium",
)  # fmt: skip
MATERIALS = (
    "Steel", "Oak", "Bamboo", "Ceramic", "Copper", "Glass", "Linen", "Aluminium", "Walnut", "Cork",
)  # fmt: skip
NOUNS = (
    "Hammer", "Kettle", "Planter", "Notebook", "Lamp", "Chair", "Knife", "Jar", "Saw", "Pan",
    "Stapler", "Hose", "Level", "Shelf", "Bowl", "Drill", "Tray", "Pen", "Rake", "Clock",
)  # fmt: skip
FIRST_NAMES = (
    "Ada", "Ben", "Chloé", "Dmitri", "Eva", "Farah", "Gus", "Hana", "Ivan", "Jonas", "Kemal",
    "Lea", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vera",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Smith", "García", "Rossi", "Nowak", "Jansen", "Dubois", "Silva", "Kowalski",
    "Nielsen", "Papadopoulos", "Horvat", "Novak", "Fischer", "Moreau", "Costa",
)  # fmt: skip
CITIES = (
    ("Berlin", "DE"), ("Hamburg", "DE"), ("Paris", "FR"), ("Lyon", "FR"), ("Madrid", "ES"),
    ("Rome", "IT"), ("Vienna", "AT"), ("Amsterdam", "NL"), ("Warsaw", "PL"), ("Lisbon", "PT"),
)  # fmt: skip
STREETS = ("Main Street", "Station Road", "Mill Lane", "Park Avenue", "Church Street", "High Road")
# Seeded orders spread over every status, so every transition can be tried on demo data.
ORDER_STATUSES = (
    (OrderStatus.PENDING, 25),
    (OrderStatus.PAID, 25),
    (OrderStatus.SHIPPED, 35),
    (OrderStatus.CANCELLED, 15),
)

# The tutorial's users (docs/tutorial/README.md): a staff member who may change the catalog,
# the stock, customers and orders, and two customers, each linked to one demo customer record.
# Demo credentials only: never seed them into a shop that faces the internet.
STAFF_GROUP = "shop staff"
STAFF_APPS = ("catalog", "inventory", "customers", "orders")
DEMO_USERS: tuple[tuple[str, str, int | None], ...] = (
    # (username, password, index of the demo customer they are, or None for staff)
    ("staff", "staff-demo-password", None),
    ("ada", "ada-demo-password", 1),
    ("ben", "ben-demo-password", 2),
)

T = TypeVar("T")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SeedPlan:
    """How much demo data to have; each count is a target, not an increment."""

    products: int = 200
    customers: int = 50
    orders: int = 100
    seed: int = 42
    batch_size: int = 2000


@dataclass
class SeedReport:
    """What one run inserted (zero everywhere when the data was already there)."""

    categories: int = 0
    products: int = 0
    stock_items: int = 0
    customers: int = 0
    addresses: int = 0
    orders: int = 0
    users: int = 0
    order_lines: int = 0
    reservations: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def demo_sku(index: int) -> str:
    return f"{SKU_PREFIX}{index:06d}"


def demo_email(index: int) -> str:
    return f"customer{index:06d}@{EMAIL_DOMAIN}"


def _rng(seed: int, kind: str, index: int) -> random.Random:
    # One generator per row: row i looks the same whatever was seeded before it.
    return random.Random(f"{seed}:{kind}:{index}")


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


def seed_demo(plan: SeedPlan, *, progress: Progress | None = None) -> SeedReport:
    """Make sure the first N demo products, customers and orders exist; insert only what is missing.

    Rows are bulk-inserted without recording outbox events, like legacy data that predates the
    outbox; a backfill streams their snapshots later.
    """
    report = SeedReport()
    progress = progress or _no_progress
    started = time.perf_counter()
    phases: list[tuple[str, Callable[[], None]]] = [
        ("categories", lambda: _seed_categories(report)),
        ("products", lambda: _seed_products(plan, report, progress)),
        ("stock", lambda: _seed_stock(plan, report, progress)),
        ("customers", lambda: _seed_customers(plan, report, progress)),
        ("users", lambda: _seed_users(report)),
        ("orders", lambda: _seed_orders(plan, report, progress)),
    ]
    for name, run in phases:
        phase_started = time.perf_counter()
        run()
        report.timings[name] = round(time.perf_counter() - phase_started, 3)
    report.seconds = round(time.perf_counter() - started, 3)
    logger.info("demo data seeded", extra=report.as_dict())
    return report


@transaction.atomic
def _seed_users(report: SeedReport) -> None:
    """The demo users (DEMO_USERS), made once; customers are linked to theirs when it exists."""
    staff_group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    staff_group.permissions.add(*Permission.objects.filter(content_type__app_label__in=STAFF_APPS))
    users = get_user_model().objects
    for username, password, customer_index in DEMO_USERS:
        user = users.filter(username=username).first()
        if user is None:
            user = users.create_user(
                username=username, password=password, is_staff=customer_index is None
            )
            report.users += 1
        if customer_index is None:
            user.groups.add(staff_group)
        elif not Customer.objects.filter(user=user).exists():
            Customer.objects.filter(email=demo_email(customer_index), user=None).update(user=user)


def _seed_categories(report: SeedReport) -> None:
    existing = dict(Category.objects.values_list("slug", "pk"))
    roots = [
        Category(name=root, slug=_slug(root))
        for root, _ in CATEGORY_TREE
        if _slug(root) not in existing
    ]
    for category in Category.objects.bulk_create(roots):
        existing[category.slug] = category.pk
    children = [
        Category(name=child, slug=f"{_slug(root)}-{_slug(child)}", parent_id=existing[_slug(root)])
        for root, names in CATEGORY_TREE
        for child in names
        if f"{_slug(root)}-{_slug(child)}" not in existing
    ]
    Category.objects.bulk_create(children)
    report.categories = len(roots) + len(children)


def _leaf_category_ids() -> list[int]:
    slugs = [f"{_slug(root)}-{_slug(child)}" for root, names in CATEGORY_TREE for child in names]
    by_slug = dict(Category.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    return [by_slug[slug] for slug in slugs]


def _demo_product(plan: SeedPlan, index: int, leaves: Sequence[int]) -> Product:
    rng = _rng(plan.seed, "product", index)
    adjective, material, noun = rng.choice(ADJECTIVES), rng.choice(MATERIALS), rng.choice(NOUNS)
    return Product(
        sku=demo_sku(index),
        name=f"{adjective} {material} {noun}",
        description=f"A {adjective.lower()} {noun.lower()} made of {material.lower()}.",
        price=Decimal(rng.randint(199, 49_999)) / 100,
        currency=CURRENCY,
        category_id=rng.choice(leaves),
        # A few inactive products, so "not for sale" is visible in the demo.
        active=rng.random() >= 0.05,
    )


def _seed_products(plan: SeedPlan, report: SeedReport, progress: Progress) -> None:
    existing = set(Product.objects.filter(sku__startswith=SKU_PREFIX).values_list("sku", flat=True))
    missing = [i for i in range(1, plan.products + 1) if demo_sku(i) not in existing]
    leaves = _leaf_category_ids()
    for batch in _batches(missing, plan.batch_size):
        with transaction.atomic():
            Product.objects.bulk_create(_demo_product(plan, i, leaves) for i in batch)
        report.products += len(batch)
        progress("products", report.products, len(missing))


def _seed_stock(plan: SeedPlan, report: SeedReport, progress: Progress) -> None:
    # Every demo product gets a stock item, including ones a crashed earlier run left without.
    missing = list(
        Product.objects.filter(sku__startswith=SKU_PREFIX, stock_item__isnull=True)
        .order_by("pk")
        .values_list("pk", "sku")
    )
    for batch in _batches(missing, plan.batch_size):
        rows = []
        for pk, sku in batch:
            number = sku.removeprefix(SKU_PREFIX)
            if not number.isdigit():
                continue  # a product someone else named DEMO-...: not ours to stock
            rng = _rng(plan.seed, "stock", int(number))
            rows.append(StockItem(product_id=pk, sku=sku, on_hand=rng.randint(0, 500)))
        with transaction.atomic():
            StockItem.objects.bulk_create(rows)
        report.stock_items += len(rows)
        progress("stock", report.stock_items, len(missing))


def _demo_customer(plan: SeedPlan, index: int) -> tuple[Customer, list[Address]]:
    rng = _rng(plan.seed, "customer", index)
    customer = Customer(
        email=demo_email(index), name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    )
    addresses = []
    for number in range(rng.randint(1, 2)):
        city, country = rng.choice(CITIES)
        addresses.append(
            Address(
                line1=f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
                city=city,
                postal_code=f"{rng.randint(10_000, 99_999)}",
                country=country,
                is_default=number == 0,
            )
        )
    return customer, addresses


def _seed_customers(plan: SeedPlan, report: SeedReport, progress: Progress) -> None:
    existing = set(
        Customer.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").values_list("email", flat=True)
    )
    missing = [i for i in range(1, plan.customers + 1) if demo_email(i) not in existing]
    for batch in _batches(missing, plan.batch_size):
        built = [_demo_customer(plan, i) for i in batch]
        with transaction.atomic():
            customers = Customer.objects.bulk_create(customer for customer, _ in built)
            addresses = []
            for customer, (_, customer_addresses) in zip(customers, built, strict=True):
                for address in customer_addresses:
                    address.customer_id = customer.pk
                    addresses.append(address)
            Address.objects.bulk_create(addresses)
        report.customers += len(batch)
        report.addresses += len(addresses)
        progress("customers", report.customers, len(missing))


@dataclass
class _StockState:
    pk: int
    on_hand: int
    reserved: int
    changed: bool = False


def _seed_orders(plan: SeedPlan, report: SeedReport, progress: Progress) -> None:
    demo_orders = Order.objects.filter(customer__email__endswith=f"@{EMAIL_DOMAIN}")
    start = demo_orders.count()
    if start >= plan.orders:
        return
    customer_ids = list(
        Customer.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}")
        .order_by("email")
        .values_list("pk", flat=True)
    )
    products = list(
        Product.objects.filter(sku__startswith=SKU_PREFIX, active=True, currency=CURRENCY)
        .order_by("sku")
        .values_list("pk", "sku", "price")
    )
    if not customer_ids or not products:
        raise ValueError("demo orders need demo customers and active demo products; seed them too")
    stock = {
        sku: _StockState(pk, on_hand, reserved)
        for pk, sku, on_hand, reserved in StockItem.objects.filter(
            sku__startswith=SKU_PREFIX
        ).values_list("pk", "sku", "on_hand", "reserved")
    }
    open_statuses = {OrderStatus.PENDING, OrderStatus.PAID}
    statuses = [status for status, _ in ORDER_STATUSES]
    weights = [weight for _, weight in ORDER_STATUSES]
    indexes = list(range(start, plan.orders))
    done = 0
    for batch in _batches(indexes, plan.batch_size):
        orders: list[Order] = []
        planned: list[list[tuple[int, str, Decimal, int]]] = []
        for index in batch:
            rng = _rng(plan.seed, "order", index)
            picked = rng.sample(products, k=min(len(products), rng.randint(1, 4)))
            lines = [(pk, sku, price, rng.randint(1, 3)) for pk, sku, price in picked]
            status = rng.choices(statuses, weights)[0]
            if status != OrderStatus.CANCELLED and not all(
                sku in stock and stock[sku].on_hand - stock[sku].reserved >= quantity
                for _, sku, _, quantity in lines
            ):
                # Not enough stock in the demo warehouse: the order was cancelled back then.
                status = OrderStatus.CANCELLED
            total = sum((price * quantity for _, _, price, quantity in lines), Decimal("0.00"))
            orders.append(
                Order(
                    customer_id=customer_ids[rng.randrange(len(customer_ids))],
                    status=status,
                    total=total,
                    currency=CURRENCY,
                )
            )
            planned.append(lines)
            for _, sku, _, quantity in lines:
                if sku not in stock:
                    continue
                state = stock[sku]
                if status in (OrderStatus.PENDING, OrderStatus.PAID):
                    state.reserved += quantity
                    state.changed = True
                elif status == OrderStatus.SHIPPED:
                    state.on_hand -= quantity
                    state.changed = True
        now = timezone.now()
        with transaction.atomic():
            orders = Order.objects.bulk_create(orders)
            order_lines, reservations = [], []
            for order, lines in zip(orders, planned, strict=True):
                for product_id, sku, price, quantity in lines:
                    order_lines.append(
                        OrderLine(
                            order_id=order.pk,
                            product_id=product_id,
                            sku=sku,
                            quantity=quantity,
                            unit_price=price,
                        )
                    )
                    if sku in stock:
                        reservations.append(
                            Reservation(
                                order_id=order.pk,
                                stock_item_id=stock[sku].pk,
                                sku=sku,
                                quantity=quantity,
                                released=order.status == OrderStatus.CANCELLED,
                                fulfilled=order.status == OrderStatus.SHIPPED,
                                closed_at=None if order.status in open_statuses else now,
                            )
                        )
            OrderLine.objects.bulk_create(order_lines, batch_size=plan.batch_size)
            Reservation.objects.bulk_create(reservations, batch_size=plan.batch_size)
            changed = [s for s in stock.values() if s.changed]
            StockItem.objects.bulk_update(
                [StockItem(pk=s.pk, on_hand=s.on_hand, reserved=s.reserved) for s in changed],
                ["on_hand", "reserved"],
                batch_size=plan.batch_size,
            )
            for state in changed:
                state.changed = False
        report.orders += len(orders)
        report.order_lines += len(order_lines)
        report.reservations += len(reservations)
        done += len(batch)
        progress("orders", done, len(indexes))
