"""Reading SQL for the bypass guard: which tracked table a statement writes, which rows it names."""

from __future__ import annotations

import pytest

from strangler.outbox.statements import (
    TrackedTable,
    parse_writes,
    rolled_back_savepoint,
    statement_keyword,
)

PRODUCTS = TrackedTable("catalog_product", "catalog.product", "id")
TABLES = {"catalog_product": PRODUCTS}


def named(sql: str, params: object = None, many: bool = False) -> list[frozenset[str] | None]:
    return [write.ids for write in parse_writes(sql, params, many, TABLES)]


@pytest.mark.parametrize(
    ("sql", "params", "ids"),
    [
        # Model.save() of an existing row
        (
            'UPDATE "catalog_product" SET "name" = %s WHERE "catalog_product"."id" = %s',
            ["x", 5],
            {"5"},
        ),
        # the deletion collector
        (
            'DELETE FROM "catalog_product" WHERE "catalog_product"."id" IN (%s, %s)',
            [1, 2],
            {"1", "2"},
        ),
        # bulk_update: CASE ... and the keys again at the end
        (
            'UPDATE "catalog_product" SET "name" = CASE WHEN ("catalog_product"."id" = %s) '
            'THEN %s ELSE NULL END WHERE "catalog_product"."id" IN (%s)',
            [1, "n", 1],
            {"1"},
        ),
        # raw SQL with literal keys
        ("update catalog_product set name = 'x' where id = 3;", None, {"3"}),
        ("DELETE FROM public.catalog_product WHERE id IN (4, 5)", None, {"4", "5"}),
        # bulk_create with keys, VALUES (SQLite) and UNNEST (PostgreSQL)
        (
            'INSERT INTO "catalog_product" ("id", "sku") VALUES (%s, %s), (%s, %s)',
            [7, "a", 8, "b"],
            {"7", "8"},
        ),
        (
            'INSERT INTO "catalog_product" ("id", "sku") '
            "SELECT * FROM UNNEST((%s)::bigint[], (%s)::varchar[])",
            [[7, 8], ["a", "b"]],
            {"7", "8"},
        ),
    ],
)
def test_statements_that_name_their_rows(sql: str, params: object, ids: set[str]) -> None:
    assert named(sql, params) == [frozenset(ids)]


@pytest.mark.parametrize(
    "sql",
    [
        'UPDATE "catalog_product" SET "name" = %s WHERE "catalog_product"."active"',
        'UPDATE "catalog_product" SET "name" = %s WHERE "catalog_product"."id" = %s AND "sku" = %s',
        'INSERT INTO "catalog_product" ("sku", "name") VALUES (%s, %s) RETURNING "id"',
        "TRUNCATE catalog_product",
        "WITH gone AS (DELETE FROM catalog_product RETURNING id) SELECT count(*) FROM gone",
    ],
)
def test_statements_that_do_not_name_their_rows_have_table_precision(sql: str) -> None:
    assert named(sql, ["x", 1, "y"]) == [None]


def test_executemany_names_the_rows_of_every_parameter_set() -> None:
    sql = 'UPDATE "catalog_product" SET "name" = %s WHERE "id" = %s'
    assert named(sql, [("a", 1), ("b", 2)], many=True) == [frozenset({"1", "2"})]


def test_parameters_that_do_not_fit_the_placeholders_name_nothing() -> None:
    sql = 'UPDATE "catalog_product" SET "name" = %s WHERE "id" = %s'
    assert named(sql, ["only one"]) == [None]


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT * FROM "catalog_product" WHERE "id" = %s FOR UPDATE',
        "WITH p AS (SELECT id FROM catalog_product FOR NO KEY UPDATE) SELECT * FROM p",
        "INSERT INTO strangler_outbox_aggregateversion (aggregate_type) VALUES (%s) "
        "ON CONFLICT (aggregate_type) DO UPDATE SET version = 1",
        'UPDATE "catalog_category" SET "name" = %s',
        'INSERT INTO "catalog_product_tags" ("product_id") VALUES (%s)',
    ],
)
def test_reads_locks_and_other_tables_are_not_tracked_writes(sql: str) -> None:
    assert named(sql, [1]) == []


def test_truncate_of_several_tables_finds_the_tracked_one() -> None:
    writes = parse_writes('TRUNCATE "a", "catalog_product" RESTART IDENTITY', None, False, TABLES)
    assert [(w.verb, w.table) for w in writes] == [("TRUNCATE", PRODUCTS)]


def test_transaction_statements_are_told_apart() -> None:
    assert statement_keyword('  RELEASE SAVEPOINT "s1_x2"') == "RELEASE"
    assert rolled_back_savepoint('ROLLBACK TO SAVEPOINT "s1_x2"') == "s1_x2"
    assert rolled_back_savepoint("ROLLBACK") is None
