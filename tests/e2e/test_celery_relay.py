"""The relay as a beat-scheduled Celery task, end to end on PostgreSQL and RabbitMQ.

The monolith's outbox holds a backfill of the catalog; `celery beat` (STRANGLER_RUN_MODE=celery)
ticks every half second onto the kit's own queue, a prefork worker with two processes runs the
ticks, so passes overlap, and the catalog service's worker applies what they publish through
its inbox step. Every event is applied once, and two passes that both published part of one
static backlog prove they overlapped (a pass publishes everything pending before it returns).
"""

from __future__ import annotations

import ast
import re
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import kombu
import pytest

from tests.e2e.cutover_stack import Database, fresh_postgres_databases
from tests.processes import PYTHON, ROOT, Process, ProcessGroup, base_env, wait_until

pytestmark = [pytest.mark.rabbitmq, pytest.mark.e2e]

CELERY = str(Path(PYTHON).with_name("celery"))
MONOLITH_MANAGE = str(ROOT / "manage.py")
SERVICE_MANAGE = str(ROOT / "extracted" / "catalog" / "manage.py")
PRODUCTS = 8000  # one to three seconds of publishing: several half-second ticks overlap
_PASS = re.compile(r"publish_outbox_task\[[^\]]+\] succeeded in [\d.]+s: (\{.*\})")


def run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def celery(app: str, *argv: str) -> list[str]:
    return [CELERY, "-A", app, *argv, "-l", "INFO"]


def worker_ready(process: Process) -> bool:
    if not process.alive():
        raise AssertionError(f"{process.name} exited:\n{process.log()[-3000:]}")
    return " ready." in process.log()


def passes(worker: Process) -> list[dict[str, Any]]:
    """The summaries of the relay passes the worker ran, from its log."""
    return [ast.literal_eval(found) for found in _PASS.findall(worker.log())]


def test_beat_scheduled_relay_passes_overlap_and_every_event_is_applied_once(
    postgres_url: str, rabbitmq_url: str, processes: ProcessGroup, tmp_path: Path
) -> None:
    name = f"beat-{uuid.uuid4().hex[:8]}"
    with fresh_postgres_databases(postgres_url, "beat_monolith", "beat_catalog") as urls:
        monolith_url, catalog_url = urls
        env = base_env(
            DATABASE_URL=monolith_url,
            CATALOG_DATABASE_URL=catalog_url,
            STRANGLER_CONTROL_DATABASE_URL=f"sqlite:///{tmp_path / 'control.sqlite3'}",
            BROKER_URL=rabbitmq_url,
            STRANGLER_EXCHANGE=f"{name}.events",
            CATALOG_INBOX_QUEUE=f"{name}.catalog",
            MONOLITH_INBOX_QUEUE=f"{name}.monolith",
            STRANGLER_RUN_MODE="celery",
            STRANGLER_RELAY_EVERY="0.5",
        )
        monolith_env = {**env, "STRANGLER_CELERY_QUEUE": f"{name}.monolith-kit"}
        catalog_env = {**env, "STRANGLER_CELERY_QUEUE": f"{name}.catalog-kit"}
        run([PYTHON, MONOLITH_MANAGE, "migrate", "--no-input"], monolith_env)
        run([PYTHON, MONOLITH_MANAGE, "migrate", "--database", "control", "--no-input"], env)
        run([PYTHON, SERVICE_MANAGE, "migrate", "--no-input"], catalog_env)
        run([PYTHON, SERVICE_MANAGE, "setup_broker"], catalog_env)
        seed = [PYTHON, MONOLITH_MANAGE, "seed_demo", "--products", str(PRODUCTS)]
        run([*seed, "--customers", "0", "--orders", "0"], monolith_env)
        run([PYTHON, MONOLITH_MANAGE, "backfill", "catalog"], monolith_env)
        monolith, catalog = Database(monolith_url), Database(catalog_url)
        total = int(monolith.scalar("SELECT count(*) FROM strangler_outbox_event"))
        assert total > PRODUCTS

        try:
            consumer = processes.start(
                "catalog-worker",
                celery(
                    "extracted.catalog.config.celery:app",
                    *("worker", "-P", "solo", "-n", f"{name}-catalog@%h"),
                    *("-Q", catalog_env["STRANGLER_CELERY_QUEUE"]),
                ),
                catalog_env,
            )
            relay = processes.start(
                "monolith-worker",
                celery(
                    "monolith.config.celery:app",
                    *("worker", "-P", "prefork", "-c", "2", "-n", f"{name}-monolith@%h"),
                    *("--without-inbox", "-Q", monolith_env["STRANGLER_CELERY_QUEUE"]),
                ),
                monolith_env,
            )
            for worker in (consumer, relay):
                wait_until(lambda w=worker: worker_ready(w), timeout=60, what=f"{worker.name}")
            beat = processes.start(
                "monolith-beat",
                celery("monolith.config.celery:app", "beat", "-s", str(tmp_path / "beat-schedule")),
                monolith_env,
            )

            def all_applied() -> bool:
                for process in (consumer, relay, beat):
                    if not process.alive():
                        raise AssertionError(f"{process.name} exited:\n{process.log()[-3000:]}")
                return int(catalog.scalar("SELECT count(*) FROM strangler_inbox_record")) == total

            wait_until(all_applied, timeout=120, interval=0.2, what=f"{total} events applied")
            beat.signal(signal.SIGTERM)
            for process in (relay, consumer):
                process.signal(signal.SIGTERM)
                assert process.wait_exit(60) == 0, process.log()[-3000:]
        finally:
            processes.stop_all()
            with kombu.Connection(rabbitmq_url) as connection:
                channel = connection.default_channel
                for queue in ("catalog", "catalog.dead", "monolith-kit", "catalog-kit"):
                    channel.queue_delete(f"{name}.{queue}")
                for exchange in ("events", "events.dlx"):
                    channel.exchange_delete(f"{name}.{exchange}")

        pending = "SELECT count(*) FROM strangler_outbox_event WHERE published_at IS NULL"
        assert monolith.scalar(pending) == 0
        records = catalog.rows(
            "SELECT count(*), count(DISTINCT event_id) FROM strangler_inbox_record"
        )
        assert records == [(total, total)], records
        products = "SELECT id, sku, name, price::text FROM catalog_product ORDER BY id"
        assert catalog.rows(products) == monolith.rows(products)
        summaries = passes(relay)
        assert all(s["failed"] == 0 for s in summaries), summaries
        publishing = [s for s in summaries if s["published"]]
        assert len(publishing) >= 2, f"no two passes overlapped: {summaries}"
        assert sum(s["published"] for s in publishing) == total, summaries
