"""Backfill: a snapshot event per existing row, in batches, resumable, throttled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from monolith.catalog.events import product_upserted_payload
from monolith.catalog.models import Product
from strangler.outbox.models import OutboxEvent
from strangler.sync.backfill import run_backfill, start_run
from strangler.sync.conf import sync_settings
from strangler.sync.models import BackfillRun
from tests.processes import ROOT, wait_until
from tests.strangler.sync.conftest import write_product


def product_events() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(event_type="catalog.product.upserted").order_by("id"))


def backfill(*args: str) -> dict:
    out = StringIO()
    call_command("backfill", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_backfill_records_one_snapshot_per_legacy_row(legacy_products):
    legacy_products(450)
    assert OutboxEvent.objects.count() == 0  # raw SQL rows: the outbox knows nothing of them

    summary = backfill("catalog.product", "--batch-size", "100")

    events = product_events()
    assert len(events) == 450
    assert [int(e.subject) for e in events] == list(range(1, 451))
    assert {e.aggregate_version for e in events} == {1}
    assert events[41].data == product_upserted_payload(Product.objects.get(pk=42))
    assert summary["backfill"][0]["events"] == 450
    assert summary["backfill"][0]["finished"] is True
    assert BackfillRun.objects.get().status == BackfillRun.Status.DONE


def test_a_snapshot_carries_a_version_newer_than_earlier_events(db):
    product = write_product(sku="A-1", name="Anvil")
    write_product(product, name="Anvil II")

    backfill("catalog.product")

    versions = [e.aggregate_version for e in product_events() if e.subject == str(product.pk)]
    assert versions == [1, 2, 3]
    assert product_events()[-1].data["name"] == "Anvil II"


def test_backfill_of_a_context_covers_each_aggregate(legacy_products):
    legacy_products(20)
    summary = backfill("catalog")
    assert [item["aggregate"] for item in summary["backfill"]] == [
        "catalog.category",
        "catalog.product",
    ]
    assert Counter(e.event_type for e in OutboxEvent.objects.all()) == {
        "catalog.category.upserted": 1,
        "catalog.product.upserted": 20,
    }


def test_an_unfinished_run_must_be_resumed_or_restarted(legacy_products):
    legacy_products(300)
    spec = sync_settings().aggregate("catalog", "product")
    run, _ = start_run(spec, resume=False, restart=False, rate=None)
    run_backfill(spec, run, batch_size=100, max_batches=2)  # stops as a crash would

    with pytest.raises(CommandError, match="--resume"):
        backfill("catalog.product")
    summary = backfill("catalog.product", "--resume")

    assert summary["backfill"][0]["events"] == 100
    assert summary["backfill"][0]["resumed"] is True
    subjects = Counter(e.subject for e in product_events())
    assert len(subjects) == 300 and set(subjects.values()) == {1}


def test_restart_abandons_the_unfinished_run(legacy_products):
    legacy_products(50)
    spec = sync_settings().aggregate("catalog", "product")
    run, _ = start_run(spec, resume=False, restart=False, rate=None)
    run_backfill(spec, run, batch_size=10, max_batches=1)
    backfill("catalog.product", "--restart")
    statuses = list(BackfillRun.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["abandoned", "done"]
    assert len(product_events()) == 60


def test_rate_caps_events_per_second(legacy_products):
    legacy_products(60)
    summary = backfill("catalog.product", "--rate", "150")
    item = summary["backfill"][0]
    assert item["events"] == 60
    assert item["events_per_second"] <= 150 * 1.1


def test_targeted_backfill_snapshots_only_the_given_ids(legacy_products):
    legacy_products(30)
    backfill("catalog.product", "--ids", "3,5-7,999")
    assert [e.subject for e in product_events()] == ["3", "5", "6", "7"]


def test_bad_arguments_get_clear_errors(db):
    with pytest.raises(CommandError, match="unknown context 'shop'"):
        call_command("backfill", "shop")
    with pytest.raises(
        CommandError,
        match=r"unknown aggregate catalog\.widget; STRANGLER_SYNC lists: catalog\.category, "
        r"catalog\.product",
    ):
        call_command("backfill", "catalog.widget")
    with pytest.raises(CommandError, match="no unfinished backfill"):
        call_command("backfill", "catalog.product", "--resume")
    with pytest.raises(CommandError, match="--rate"):
        call_command("backfill", "catalog.product", "--rate", "-3")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backfill_killed_halfway_resumes_without_duplicates(legacy_products):
    rows = legacy_products(20_000)
    name = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "manage.py", "backfill", "catalog.product", "--batch-size", "500"]
    first = subprocess.Popen(
        [*argv, "--rate", "4000"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: BackfillRun.objects.filter(rows_done__gte=8_000).exists(),
            timeout=60,
            what="the backfill to pass 8,000 rows",
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    run = BackfillRun.objects.get()
    assert run.status == BackfillRun.Status.RUNNING and run.rows_done < len(rows)
    assert OutboxEvent.objects.count() == run.rows_done  # the checkpoint moved with each batch

    finished = subprocess.run(
        [*argv, "--resume", "--json"], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]

    subjects = Counter(OutboxEvent.objects.values_list("subject", flat=True))
    assert len(subjects) == len(rows)
    assert set(subjects.values()) == {1}
    assert BackfillRun.objects.get().status == BackfillRun.Status.DONE
