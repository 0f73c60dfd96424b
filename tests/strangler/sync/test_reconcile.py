"""Reconcile against a real second side: another process with its own database, over HTTP."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from monolith.catalog.models import Category, Product
from strangler.outbox.models import OutboxEvent
from tests.strangler.sync.conftest import PRODUCT_COLUMNS, TOKEN, OtherSide, product_row


def reconcile(*args: str) -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("reconcile", *args, "--json", stdout=out, stderr=StringIO())
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue())


def inject_drift(side: OtherSide, count: int) -> dict[str, list[int]]:
    """Delete, change and add rows on the other side; returns the ids of each kind of drift."""
    missing = [7, count // 2, count]
    changed = [11, count // 3, count // 3 + 1, count - 5]
    for key in missing:
        side.execute("DELETE FROM catalog_product WHERE id = %s", [key])
    side.execute("UPDATE catalog_product SET name = 'changed' WHERE id = %s", [changed[0]])
    side.execute("UPDATE catalog_product SET price = price + 1 WHERE id = %s", [changed[1]])
    side.execute("UPDATE catalog_product SET active = NOT active WHERE id = %s", [changed[2]])
    side.execute(
        "UPDATE catalog_product SET description = 'x', currency = 'GBP' WHERE id = %s",
        [changed[3]],
    )
    # Rows the source does not have: one in the middle (deleted here after the copy), two past
    # the end.
    extra = [count // 4, count + 1, count + 2]
    Product.objects.filter(pk=extra[0]).delete()
    for key in extra[1:]:
        side.execute(
            "INSERT INTO catalog_product (id, sku, name, description, price, currency, active, "
            "created_at, updated_at) VALUES (%s, %s, 'ghost', '', 1.00, 'EUR', %s, "
            "'2024-01-01 00:00:00+00', '2024-01-01 00:00:00+00')",
            [key, f"GHOST-{key}", True],
        )
    return {"missing": missing, "different": changed, "extra": extra}


def test_equal_sides_reconcile_with_exit_status_0(legacy_products, other_side, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", TOKEN)
    legacy_products(1_500)
    other_side.copy_products_from_here()

    code, report = reconcile("catalog", "--target", other_side.url)

    assert code == 0, report
    assert report["equal"] is True
    product = report["aggregates"][1]
    assert product["source_count"] == product["target_count"] == 1_500
    assert product["rows_fetched"] == 0


def test_drift_is_found_exactly_and_repair_records_the_fixes(
    legacy_products, other_side, monkeypatch
):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", TOKEN)
    legacy_products(3_000)
    other_side.copy_products_from_here()
    drift = inject_drift(other_side, 3_000)

    code, report = reconcile("catalog.product", "--target", other_side.url)

    assert code == 1
    (product,) = report["aggregates"]
    assert product["missing"] == drift["missing"]
    assert product["extra"] == drift["extra"]
    different = {item["id"]: item["fields"] for item in product["different"]}
    assert sorted(different) == drift["different"]
    assert set(different[drift["different"][0]]) == {"name"}
    assert set(different[drift["different"][3]]) == {"currency", "description"}
    fourth = drift["different"][3]
    assert different[fourth]["currency"] == ["EUR" if fourth % 2 else "USD", "GBP"]

    code, repaired = reconcile("catalog.product", "--target", other_side.url, "--repair", "--yes")

    assert code == 1  # drift was found; the fixes travel through the outbox to the reader
    assert repaired["repairs"]["catalog.product"] == {"snapshots": 7, "deletions": 3}
    snapshots = OutboxEvent.objects.filter(event_type="catalog.product.upserted")
    assert sorted(int(s) for s in snapshots.values_list("subject", flat=True)) == sorted(
        drift["missing"] + drift["different"]
    )
    deletions = OutboxEvent.objects.filter(event_type="catalog.product.deleted")
    assert sorted(int(s) for s in deletions.values_list("subject", flat=True)) == drift["extra"]


@pytest.mark.postgres
def test_reconcile_of_200000_rows_reads_a_small_fraction(other_side, monkeypatch, db):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", TOKEN)
    total = 200_000
    category = Category.objects.create(name="Bulk", slug="bulk")

    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY catalog_product ({', '.join(PRODUCT_COLUMNS)}) FROM STDIN") as copy:
            for key in range(1, total + 1):
                copy.write_row(product_row(key, category.pk if key % 2 else None))
    other_side.copy_products_from_here()
    drift = inject_drift(other_side, total)

    code, report = reconcile("catalog.product", "--target", other_side.url)

    assert code == 1
    (product,) = report["aggregates"]
    assert product["missing"] == drift["missing"]
    assert product["extra"] == drift["extra"]
    assert [item["id"] for item in product["different"]] == drift["different"]
    # Every row is hashed once per side at the first level; the descent adds a bounded amount,
    # and only rows of the drifted leaves are fetched.
    assert product["rows_hashed"] < 2 * (2 * total)
    assert product["rows_fetched"] < 0.01 * total


def test_reconcile_explains_bad_arguments(db, other_side):
    with pytest.raises(CommandError, match="unknown context"):
        call_command("reconcile", "shop", "--target", other_side.url)
    with pytest.raises(CommandError, match="no target for catalog"):
        call_command("reconcile", "catalog")
    with pytest.raises(CommandError, match="neither 'local' nor"):
        call_command("reconcile", "catalog", "--target", "ftp://x")


def test_a_wrong_token_is_refused_by_the_other_side(db, other_side, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", "not-the-token")
    with pytest.raises(CommandError, match="403"):
        call_command("reconcile", "catalog", "--target", other_side.url, stdout=StringIO())
