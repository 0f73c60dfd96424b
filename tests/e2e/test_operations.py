"""End to end: the operator's commands against a running monolith, relay, catalog service, consumer.

Legacy rows are written with raw SQL (no events); backfill fills the service, reconcile proves it
equal over the real /internal/sync/ endpoints, drift is injected and repaired, the service's store
is dropped and rebuilt by replay, and dead letters of a handler bug are requeued after the fix.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.e2e.test_catalog_sync import (  # noqa: F401 - the `stack` fixture of the catalog stack
    MONOLITH_MANAGE,
    SERVICE_MANAGE,
    CatalogStack,
    stack,
)
from tests.processes import PYTHON, ROOT, wait_until

pytestmark = pytest.mark.e2e

PRODUCTS = 20_000
COLUMNS = "id, sku, name, description, price, currency, category_id, active, created_at, updated_at"


def execute(url: str, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Write to a side's database directly, as legacy code or a faulty script would."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            for sql, params in statements:
                db.execute(sql.replace("%s", "?"), params)
            db.commit()
        return
    with psycopg.connect(url) as db:
        for sql, params in statements:
            db.execute(sql, params)


def legacy_rows(count: int) -> list[tuple[Any, ...]]:
    epoch = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        (
            key,
            f"LEGACY-{key:06d}",
            f"Legacy product {key}",
            "" if key % 4 else "written before the outbox existed",
            str(Decimal(key % 500) + Decimal("0.25")),
            "EUR",
            None,
            key % 7 != 0,
            (epoch + timedelta(minutes=key)).isoformat(),
            (epoch + timedelta(minutes=key, seconds=1)).isoformat(),
        )
        for key in range(1, count + 1)
    ]


def insert_legacy_products(url: str, count: int) -> None:
    rows = legacy_rows(count)
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            # Django stores SQLite datetimes as naive UTC text and decimals as numbers.
            db.executemany(
                f"INSERT INTO catalog_product ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(*row[:4], Decimal(row[4]), *row[5:8], row[8][:-6], row[9][:-6]) for row in rows],
            )
            db.commit()
        return
    with psycopg.connect(url) as db:
        with (
            db.cursor() as cursor,
            cursor.copy(f"COPY catalog_product ({COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        # Rows inserted with explicit ids: move the sequence past them for the API's inserts.
        db.execute("SELECT setval(pg_get_serial_sequence('catalog_product', 'id'), %s)", [count])


def manage(
    ops: CatalogStack, project: str, *args: str, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [PYTHON, project, *args],
        cwd=ROOT,
        env=ops.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode in ok, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    return done


def reconcile(ops: CatalogStack, *args: str) -> tuple[int, dict[str, Any]]:
    done = manage(
        ops,
        MONOLITH_MANAGE,
        "reconcile",
        "catalog",
        "--target",
        ops.service_url,
        "--json",
        *args,
        ok=(0, 1),
    )
    return done.returncode, json.loads(done.stdout)


def service_products(ops: CatalogStack) -> int:
    return int(ops.service_db.scalar("SELECT count(*) FROM catalog_product"))


def wait_for_service_products(ops: CatalogStack, count: int) -> None:
    wait_until(
        lambda: service_products(ops) == count,
        timeout=300,
        interval=0.5,
        what=f"{count} products in the service",
    )


def wait_until_equal(ops: CatalogStack) -> dict[str, Any]:
    """Reconcile until it exits 0 (the consumer catches up); returns the last report."""
    last: dict[str, Any] = {}

    def equal() -> bool:
        nonlocal last
        code, last = reconcile(ops)
        return code == 0

    try:
        wait_until(equal, timeout=120, interval=1.0, what="reconcile to report no drift")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast report: {json.dumps(last)[:3000]}") from exc
    return last


def test_backfill_reconcile_repair_and_rebuild_by_replay(stack: CatalogStack) -> None:  # noqa: F811
    monolith_db, service_db = stack.monolith_db.url, stack.service_db.url
    insert_legacy_products(monolith_db, PRODUCTS)
    stack.start_consumer()

    backfill = json.loads(manage(stack, MONOLITH_MANAGE, "backfill", "catalog", "--json").stdout)
    assert backfill["backfill"][1]["events"] == PRODUCTS
    wait_for_service_products(stack, PRODUCTS)
    report = wait_until_equal(stack)
    assert report["aggregates"][1]["target_count"] == PRODUCTS

    # Drift: rows deleted, fields changed and a row added behind the inbox's back.
    execute(
        service_db,
        [
            ("DELETE FROM catalog_product WHERE id IN (3, 9000, 19999)", []),
            ("UPDATE catalog_product SET name = 'tampered' WHERE id = 42", []),
            ("UPDATE catalog_product SET price = 999.99, active = %s WHERE id = 12345", [True]),
            (
                f"INSERT INTO catalog_product ({COLUMNS}) VALUES (%s, 'GHOST', 'ghost', '', "
                "1.00, 'EUR', NULL, %s, '2024-01-01 00:00:00', '2024-01-01 00:00:00')",
                [PRODUCTS + 50, True],
            ),
        ],
    )
    code, report = reconcile(stack)
    assert code == 1
    product = report["aggregates"][1]
    assert product["missing"] == [3, 9000, 19999]
    assert product["extra"] == [PRODUCTS + 50]
    assert {d["id"]: sorted(d["fields"]) for d in product["different"]} == {
        42: ["name"],
        12345: ["price"],  # active was already true
    }
    assert report["aggregates"][0]["missing"] == report["aggregates"][0]["extra"] == []

    code, repaired = reconcile(stack, "--repair", "--yes")
    assert repaired["repairs"]["catalog.product"] == {"snapshots": 5, "deletions": 1}
    wait_until_equal(stack)

    # Drop the service's store and rebuild it from the monolith's event log.
    rebuilt = json.loads(
        manage(stack, SERVICE_MANAGE, "rebuild_projection", "catalog", "--yes", "--json").stdout
    )
    assert rebuilt["reset"][1]["rows"] == PRODUCTS
    assert service_products(stack) == 0
    replay_args = rebuilt["replay_command"].split()[3:]  # after "python manage.py replay_events"
    replay = json.loads(
        manage(
            stack,
            MONOLITH_MANAGE,
            "replay_events",
            *[arg.strip("'") for arg in replay_args],
            "--json",
        ).stdout
    )
    assert replay["events"] >= PRODUCTS
    wait_for_service_products(stack, PRODUCTS)
    wait_until_equal(stack)


def dead_letter_command(ops: CatalogStack, *args: str) -> dict[str, Any]:
    done = manage(ops, SERVICE_MANAGE, "dead_letters", "--json", *args)
    return json.loads(done.stdout)


def test_a_handler_bug_dead_letters_and_requeue_applies_after_the_fix(
    stack: CatalogStack,  # noqa: F811
) -> None:
    buggy = stack.start_consumer(DJANGO_SETTINGS_MODULE="tests.e2e.buggy_catalog_settings")
    products = [stack.create_product(index) for index in range(1, 4)]
    dead_queue = stack.subscription.dead_letter_queue
    wait_until(
        lambda: stack.transport.queue_depth(dead_queue) == 3,
        timeout=90,
        what="the three product events to be dead-lettered",
    )
    assert service_products(stack) == 0
    buggy.stop()

    listing = dead_letter_command(stack, "list")
    assert listing["depth"] == 3
    assert {d["subject"] for d in listing["dead_letters"]} == {str(p["id"]) for p in products}
    assert all("price parsing is broken" in d["error"] for d in listing["dead_letters"])
    assert all(d["attempts"] == 3 for d in listing["dead_letters"])

    stack.start_consumer()  # the fixed release
    assert dead_letter_command(stack, "requeue", "--all")["count"] == 3
    wait_for_service_products(stack, 3)
    wait_until_equal(stack)
    assert stack.transport.queue_depth(dead_queue) == 0
