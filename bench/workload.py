"""What the benchmarks move: catalog product snapshots, the same bytes for every pipeline."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

EVENT_TYPE = "catalog.product.upserted"
# The schema version the monolith writes (shared_contracts/schemas/catalog.product.upserted):
# a consumer validates it as it is; an older version would add an upcast no live event takes.
DATAVERSION = 2
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def product_snapshot(product_id: int) -> dict[str, Any]:
    """A `catalog.product.upserted` payload (schema v2) for product `product_id` (~330 bytes)."""
    stamp = (EPOCH + dt.timedelta(seconds=product_id)).isoformat().replace("+00:00", "Z")
    return {
        "id": product_id,
        "sku": f"SKU-{product_id:08d}",
        "name": f"Benchmark product {product_id}",
        "description": "A product created by the benchmark; its text is about as long as a "
        "real one, so the events weigh what the shop's events weigh.",
        "price": f"{product_id % 1000}.{product_id % 100:02d}",
        "currency": "EUR",
        "category_id": None,
        "active": True,
        "created_at": stamp,
        "updated_at": stamp,
    }


@dataclass
class PacedRun:
    """What a paced writer did: events written, seconds taken, the start (wall-clock, UTC)."""

    written: int
    seconds: float
    started_at: dt.datetime | None = None

    @property
    def rate(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0


def paced(
    rate: float, seconds: float, write: Callable[[int, int], None], *, tick: float = 0.004
) -> PacedRun:
    """Call write(first_index, count) so that `rate` events/s are written for `seconds`.

    Each call is one commit of the events that fell due since the last one, so at high rates a
    commit carries a few events (as a busy monolith's concurrent requests would), and the writer
    never falls behind by more than one tick unless the database cannot keep up.
    """
    if rate <= 0 or seconds <= 0:
        raise ValueError("rate and seconds must be positive")
    started_at = dt.datetime.now(dt.UTC)
    start = time.monotonic()
    total = int(rate * seconds)
    written = 0
    while written < total:
        elapsed = time.monotonic() - start
        if elapsed > seconds * 1.5 + 5:
            break  # the store cannot take this rate; stop rather than run unbounded
        due = min(total, int(rate * elapsed) + 1) - written
        if due > 0:
            write(written, due)
            written += due
        else:
            time.sleep(min(tick, (written + 1) / rate - elapsed))
    return PacedRun(written, time.monotonic() - start, started_at)


def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """(first, count) pairs that cover range(total) in pieces of at most `size`."""
    for first in range(0, total, size):
        yield first, min(size, total - first)


PRODUCT_COLUMNS = (
    "id, sku, name, description, price, currency, category_id, active, created_at, updated_at"
)


def product_row(product_id: int) -> tuple[Any, ...]:
    """The catalog_product row of a snapshot, in PRODUCT_COLUMNS order."""
    d = product_snapshot(product_id)
    return (
        product_id,
        d["sku"],
        d["name"],
        d["description"],
        d["price"],
        d["currency"],
        d["category_id"],
        d["active"],
        d["created_at"],
        d["updated_at"],
    )


def copy_products(url: str, table: str, count: int, *, set_sequence: bool = True) -> float:
    """COPY products 1..count into `table` in one transaction; returns the seconds it took."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({PRODUCT_COLUMNS}) FROM STDIN") as copy:
            for n in range(1, count + 1):
                copy.write_row(product_row(n))
        if set_sequence:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {count})")
    return time.monotonic() - started
