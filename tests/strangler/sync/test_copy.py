"""The copy phase against a real writer: another process with its own database, over HTTP."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monolith.catalog.models import Category, Product
from strangler.inbox.models import ProjectionVersion
from strangler.sync.conf import sync_settings
from strangler.sync.copy_format import encode_row, parse_rows
from strangler.sync.copy_phase import ChunkDone
from strangler.sync.copy_target import uncovered_columns
from strangler.sync.models import CopyRun
from tests.strangler.sync.conftest import TOKEN, OtherSide, product_row

pytestmark = pytest.mark.timeout(300)


class Crash(RuntimeError):
    """What the injected chunk callback raises to stop a copy at a chunk boundary."""


def fill_writer(side: OtherSide, count: int, versions: dict[int, int]) -> None:
    """`count` legacy products on the writer, and outbox versions for some of them."""
    side.execute("DELETE FROM catalog_product")
    side.execute("DELETE FROM strangler_outbox_aggregate_version")
    side.execute("DELETE FROM catalog_category")
    side.execute("INSERT INTO catalog_category (id, name, slug) VALUES (1, 'Tools', 'tools')")
    rows = [product_row(key, 1 if key % 2 else None) for key in range(1, count + 1)]
    columns = (
        "id, sku, name, description, price, currency, category_id, active, created_at, updated_at"
    )
    with side._connect() as db:
        side._insert(db, "catalog_product", columns.split(", "), rows)
        for key, version in versions.items():
            db.execute(
                "INSERT INTO strangler_outbox_aggregate_version (aggregate_type, aggregate_id, "
                "version) VALUES ('catalog.product', %s, %s)".replace(
                    "%s", "?" if side.database_url.startswith("sqlite") else "%s"
                ),
                [str(key), version],
            )


def copy(side: OtherSide, *args: str, on_chunk=None) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    out = StringIO()
    extra = {"on_chunk": on_chunk} if on_chunk is not None else {}
    try:
        call_command(
            "copy_context",
            "catalog.product",
            "--source",
            side.url,
            "--no-declare",
            "--catch-up-timeout",
            "20",
            "--json",
            *args,
            stdout=out,
            stderr=StringIO(),
            **extra,
        )
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue())


@pytest.fixture
def here(db):  # type: ignore[no-untyped-def]
    """This side (the reader) with the category the copied products point at."""
    Category.objects.create(pk=1, name="Tools", slug="tools")


def test_copy_fills_an_empty_projection_seeds_versions_and_reconciles_equal(
    here, other_side, monkeypatch
):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", TOKEN)
    fill_writer(other_side, 1_200, versions={5: 3, 700: 1, 1_200: 9})

    code, result = copy(other_side, "--chunk-rows", "500")

    assert code == 0, result
    assert result["equal"] is True
    (copied,) = result["copy"]
    assert (copied["rows"], copied["written"], copied["skipped"]) == (1_200, 1_200, 0)
    assert copied["chunks"] == 3 and copied["finished"] is True
    assert Product.objects.count() == 1_200
    # Rows no event touched need no version; the others start the stream after their version.
    seeded = dict(
        ProjectionVersion.objects.filter(projection="catalog.product").values_list(
            "aggregate_id", "version"
        )
    )
    assert seeded == {"5": 3, "700": 1, "1200": 9}
    run = CopyRun.objects.get()
    assert (run.status, run.last_key, run.rows_done) == (CopyRun.Status.DONE, 1_200, 1_200)


def test_a_copy_stopped_at_a_chunk_boundary_resumes_from_its_checkpoint(
    here, other_side, monkeypatch
):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", TOKEN)
    fill_writer(other_side, 1_000, versions={})
    seen: list[ChunkDone] = []

    def crash_after_two(done: ChunkDone) -> None:
        seen.append(done)
        if done.chunk == 2:
            raise Crash("stopped at a chunk boundary")

    with pytest.raises(Crash):
        copy(other_side, "--chunk-rows", "300", on_chunk=crash_after_two)
    run = CopyRun.objects.get()
    assert (run.status, run.last_key, run.chunks) == (CopyRun.Status.RUNNING, 600, 2)
    assert Product.objects.count() == 600

    with pytest.raises(CommandError, match="--resume"):
        copy(other_side, "--chunk-rows", "300")
    code, result = copy(other_side, "--chunk-rows", "300", "--resume")

    assert code == 0, result
    (copied,) = result["copy"]
    assert copied["resumed"] is True
    assert copied["rows"] == 400  # only what the first session had not merged
    assert Product.objects.count() == 1_000
    assert result["equal"] is True


def test_copied_rows_never_overwrite_a_newer_projection_or_resurrect_a_tombstone(
    here, other_side, monkeypatch
):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", TOKEN)
    fill_writer(other_side, 20, versions={3: 2, 4: 5, 6: 1})
    # What the inbox already applied here: product 3 at version 7 (newer than the copy's 2),
    # product 4 at version 1 (older than the copy's 5), product 6 deleted at version 4.
    call_command(
        "copy_context",
        "catalog.product",
        "--source",
        other_side.url,
        "--no-declare",
        "--no-reconcile",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    Product.objects.filter(pk=3).update(name="newer here")
    Product.objects.filter(pk=4).update(name="older here")
    Product.objects.filter(pk=6).delete()
    ProjectionVersion.objects.filter(aggregate_id="3").update(version=7)
    ProjectionVersion.objects.filter(aggregate_id="4").update(version=1)
    ProjectionVersion.objects.filter(aggregate_id="6").update(version=4, deleted=True)

    code, result = copy(other_side, "--restart", "--no-reconcile")

    assert code == 0
    (copied,) = result["copy"]
    assert (copied["written"], copied["skipped"]) == (18, 2)
    assert Product.objects.get(pk=3).name == "newer here"
    assert Product.objects.get(pk=4).name == "Product 4 ñ"
    assert not Product.objects.filter(pk=6).exists()
    versions = dict(ProjectionVersion.objects.values_list("aggregate_id", "version"))
    assert versions == {"3": 7, "4": 5, "6": 4}


def test_copy_explains_bad_arguments(db, other_side, monkeypatch):
    monkeypatch.setenv("STRANGLER_INTERNAL_TOKEN", TOKEN)
    with pytest.raises(
        CommandError, match=r"unknown aggregate catalog\.widget; STRANGLER_SYNC lists"
    ):
        call_command("copy_context", "catalog.widget", "--source", other_side.url)
    with pytest.raises(CommandError, match="no writer to copy catalog from"):
        call_command("copy_context", "catalog")
    with pytest.raises(CommandError, match="no unfinished copy"):
        call_command(
            "copy_context", "catalog", "--source", other_side.url, "--resume", "--no-declare"
        )


def test_the_wire_format_round_trips_every_kind():
    kinds = ["text", "money", "bool", "timestamp", "int", "date"]
    row = product_row(9)
    values = ["tab\there\nnew \\ line", row[4], False, row[8], None, row[8].date()]
    line = encode_row(9, kinds, values, 4)
    ((key, parsed, version),) = parse_rows(line + "\n", kinds)
    assert (key, version) == (9, 4)
    assert parsed == values


def test_every_column_of_the_shop_projection_is_filled_by_the_copy(db):
    assert uncovered_columns(sync_settings().aggregate("catalog", "product")) == []
