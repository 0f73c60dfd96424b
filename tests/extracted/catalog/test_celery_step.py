"""The inbox consumer runs inside a real Celery worker (the consumer step) and stops with it."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import kombu
import pytest

from strangler.transport import get_transport
from strangler.transport.base import OutgoingMessage, Subscription
from strangler.transport.conf import transport_settings
from tests.extracted.catalog.conftest import catalog_event
from tests.processes import PYTHON, ProcessGroup, base_env, wait_until

SERVICE_MANAGE = "extracted/catalog/manage.py"
CELERY = str(Path(PYTHON).with_name("celery"))


def product_count(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return int(db.execute("SELECT count(*) FROM catalog_product").fetchone()[0])


@pytest.mark.rabbitmq
def test_celery_worker_applies_events_through_the_inbox_step(
    processes: ProcessGroup, tmp_path: Path, rabbitmq_url: str
) -> None:
    name = f"celery-{uuid.uuid4().hex[:8]}"
    database = tmp_path / "catalog.sqlite3"
    env = base_env(
        CATALOG_DATABASE_URL=f"sqlite:///{database}",
        STRANGLER_CONTROL_DATABASE_URL=f"sqlite:///{tmp_path / 'control.sqlite3'}",
        BROKER_URL=rabbitmq_url,
        STRANGLER_EXCHANGE=f"{name}.events",
        CATALOG_INBOX_QUEUE=f"{name}.catalog",
    )
    migrate = processes.start("migrate", [PYTHON, SERVICE_MANAGE, "migrate", "--no-input"], env)
    assert migrate.wait_exit(180) == 0, migrate.log()
    settings = dataclasses.replace(
        transport_settings(), url=rabbitmq_url, exchange=f"{name}.events"
    )
    subscription = Subscription("catalog-service", f"{name}.catalog", ("catalog.#",))
    transport = get_transport(settings)
    transport.declare_subscription(subscription)
    try:
        events = [catalog_event("product", "upserted", pid, 1) for pid in range(1, 41)]
        outcomes = transport.publish_batch(
            [OutgoingMessage(e.id, e.type, e.to_message()) for e in events]
        )
        assert all(o.confirmed for o in outcomes)
        worker = processes.start(
            "worker",
            [
                CELERY,
                "-A",
                "extracted.catalog.config.celery:app",
                "worker",
                "-P",
                "solo",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                f"{name}.tasks",
                "-l",
                "INFO",
            ],
            env,
        )

        def all_applied() -> Any:
            if not worker.alive():
                raise AssertionError(f"the worker exited:\n{worker.log()[-3000:]}")
            return product_count(database) == 40

        wait_until(all_applied, timeout=90, what="the worker's inbox step to apply 40 events")
        assert transport.queue_depth(subscription.queue) == 0

        worker.signal(signal.SIGTERM)
        assert worker.wait_exit(60) == 0, worker.log()
        assert "inbox consumer started" in worker.log()
    finally:
        transport.delete_subscription(subscription)
        transport.close()
        with kombu.Connection(rabbitmq_url) as connection:  # the worker's own task queue
            connection.default_channel.queue_delete(f"{name}.tasks")
