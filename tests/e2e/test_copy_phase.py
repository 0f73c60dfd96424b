"""End to end: the copy phase fills the catalog service while the monolith keeps taking writes.

Both sides run as real processes (web server, relay, consumer) on PostgreSQL and RabbitMQ. The
monolith holds legacy products written without events; a client keeps creating and changing
products through the monolith's API. copy_context, run on the service, is killed (SIGKILL, from
its own chunk callback) after a chunk is committed, then resumed; it ends with reconcile equal,
and every product's version on the service is the writer's last version.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.cutover_stack import SERVICE_MANAGE, CutoverStack, SteadyWriter, cutover_stack
from tests.processes import PYTHON, ROOT, ProcessGroup

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.timeout(600)]

LEGACY = 30_000
CHUNK = 4_000


@pytest.fixture
def stack(
    processes: ProcessGroup, postgres_url: str, rabbitmq_url: str, tmp_path: Path
) -> Iterator[CutoverStack]:
    with cutover_stack(
        processes, postgres_url=postgres_url, rabbitmq_url=rabbitmq_url, tmp_path=tmp_path
    ) as stack:
        yield stack


def fill_legacy(stack: CutoverStack, count: int) -> None:
    """Products written before the outbox existed: rows, no events, no versions."""
    columns = "sku, name, description, price, currency, active, created_at, updated_at"
    with (
        psycopg.connect(stack.monolith_db.url) as db,
        db.cursor() as cursor,
        cursor.copy(f"COPY catalog_product ({columns}) FROM STDIN") as copy,
    ):
        for index in range(count):
            copy.write_row(
                (
                    f"L-{index}",
                    f"Legacy {index}",
                    "old\tline\n2",
                    f"{index % 900}.50",
                    "EUR",
                    index % 7 != 0,
                    "2025-01-01T00:00:00Z",
                    "2025-06-01T12:00:00.123456Z",
                )
            )


def copy_context(stack: CutoverStack, *args: str, kill_after: int | None = None):  # type: ignore[no-untyped-def]
    argv = ["copy_context", "catalog", "--chunk-rows", str(CHUNK), "--json", *args]
    if kill_after is None:
        command = [PYTHON, SERVICE_MANAGE, *argv]
    else:
        command = [PYTHON, "-m", "tests.e2e.copy_until_killed", str(kill_after), *argv]
    return subprocess.run(
        command,
        cwd=ROOT,
        env=stack.env_of(stack.context.service),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def versions(url: str, sql: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as db:
        return {str(key): int(version) for key, version in db.execute(sql).fetchall()}


def test_a_killed_copy_resumes_under_writes_and_ends_equal_at_the_writers_versions(stack):
    fill_legacy(stack, LEGACY)
    writer = SteadyWriter(stack, prefix="C", max_seconds=240, pause=0.01)
    writer.start()
    writer.wait_for_writes(30)

    killed = copy_context(stack, kill_after=3)

    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert "killed after chunk 3" in killed.stdout
    status, chunks, last_key = stack.service_db.rows(
        "SELECT status, chunks, last_key FROM strangler_sync_copy_run WHERE aggregate = 'product'"
    )[0]
    assert (status, chunks) == ("running", 3)
    assert (
        stack.service_db.scalar("SELECT count(*) FROM catalog_product WHERE id <= %s", (last_key,))
        == last_key
    )

    writer.wait_for_writes(writer.writes + 30)
    resumed = copy_context(stack, "--resume", "--catch-up-timeout", "180")
    writer.stop()
    assert not writer.errors, writer.errors
    assert resumed.returncode in (0, 1), resumed.stderr[-3000:]
    report = json.loads(resumed.stdout)
    product = next(item for item in report["copy"] if item["aggregate"] == "catalog.product")
    assert product["resumed"] is True and product["finished"] is True
    assert product["chunks"] >= 1  # only the chunks after the checkpoint

    # The stream catches up with the writes made after the copy's last snapshot.
    stack.wait_stores_equal(timeout=180)
    final = stack.manage("catalog-service", "reconcile", "catalog", "--json")
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    assert json.loads(final.stdout)["equal"] is True
    writer_versions = versions(
        stack.monolith_db.url,
        "SELECT aggregate_id, version FROM strangler_outbox_aggregate_version "
        "WHERE aggregate_type = 'catalog.product'",
    )
    service_versions = versions(
        stack.service_db.url,
        "SELECT aggregate_id, version FROM strangler_inbox_projection_version "
        "WHERE projection = 'catalog.product'",
    )
    assert writer_versions, "the writer made versioned writes during the copy"
    assert service_versions == writer_versions
    assert stack.service_db.scalar("SELECT count(*) FROM catalog_product") >= LEGACY
