"""The inbox consumer inside a real Celery worker (the consumer step), on RabbitMQ and PostgreSQL.

Each test publishes a stream of catalog events, runs `celery worker` on it and ends with every
event recorded once in the inbox and every product at its last version: through SIGKILL and
SIGTERM mid-stream with the prefork and the solo pool, a consumer thread that dies, and a
configuration the step refuses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu
import psycopg
import pytest

from strangler.transport import get_transport
from strangler.transport.base import OutgoingMessage, Subscription, Transport
from strangler.transport.conf import transport_settings
from tests.e2e.cutover_stack import Database, fresh_postgres_databases
from tests.extracted.catalog.conftest import catalog_event
from tests.processes import PYTHON, Process, ProcessGroup, base_env, free_port, wait_until

pytestmark = [pytest.mark.rabbitmq, pytest.mark.e2e]

SERVICE_MANAGE = "extracted/catalog/manage.py"
CELERY = str(Path(PYTHON).with_name("celery"))
CATALOG_APP = "extracted.catalog.config.celery:app"
FAULTY_APP = "tests.extracted.catalog.celery_faults:app"
PRODUCTS = 40
VERSIONS = 40  # 1,600 events published at once: the backlog a worker is stopped in the middle of
ROUND_EVERY = 0.2  # a steady stream: one version of every product per round, 200 events/s
MAX_ROUNDS = 400
TABLES = "catalog_product, catalog_category, strangler_inbox_record, "
TABLES += "strangler_inbox_projection_version"


@pytest.fixture(scope="module")
def catalog_database(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated PostgreSQL database of the catalog service, shared by this module's tests."""
    with fresh_postgres_databases(postgres_url, "celery_catalog") as (url,):
        env = base_env(
            CATALOG_DATABASE_URL=url,
            STRANGLER_CONTROL_DATABASE_URL=control_url(tmp_path_factory.getbasetemp()),
        )
        migrate = subprocess.run(
            [PYTHON, SERVICE_MANAGE, "migrate", "--no-input"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        yield url


def control_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'celery-control.sqlite3'}"


def publish_round(transport: Transport, version: int) -> None:
    """Version `version` of every product, confirmed by the broker."""
    events = [catalog_event("product", "upserted", pid, version) for pid in range(1, PRODUCTS + 1)]
    outcomes = transport.publish_batch(
        [OutgoingMessage(e.id, e.type, e.to_message()) for e in events]
    )
    assert all(o.confirmed for o in outcomes), outcomes


@dataclasses.dataclass
class Publisher:
    """Publishes rounds at a steady pace in a thread of its own, with a transport of its own."""

    transport: Transport
    rounds: int = 0
    error: BaseException | None = None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)

    @property
    def published(self) -> int:
        return self.rounds * PRODUCTS

    def run(self) -> None:
        try:
            while self.rounds < MAX_ROUNDS and not self.done.wait(ROUND_EVERY):
                publish_round(self.transport, self.rounds + 1)
                self.rounds += 1
        except BaseException as exc:  # reported by steady_stream in the test's thread
            self.error = exc


@dataclasses.dataclass
class Stream:
    """One test's broker names, environment and event stream, and what to check at the end."""

    name: str
    env: dict[str, str]
    transport: Transport
    subscription: Subscription
    db: Database
    processes: ProcessGroup
    health_port: int

    def publish_all(self) -> int:
        """Every product's versions 1..VERSIONS, interleaved; returns how many."""
        for version in range(1, VERSIONS + 1):
            publish_round(self.transport, version)
        return PRODUCTS * VERSIONS

    @contextlib.contextmanager
    def steady_stream(self, backlog: int = VERSIONS) -> Iterator[Publisher]:
        """`backlog` rounds at once, then a round every ROUND_EVERY seconds until the block ends."""
        publisher = Publisher(get_transport(self.transport.settings))  # type: ignore[attr-defined]
        for version in range(1, backlog + 1):
            publish_round(publisher.transport, version)
        publisher.rounds = backlog
        thread = threading.Thread(target=publisher.run, daemon=True)
        thread.start()
        try:
            yield publisher
        finally:
            publisher.done.set()
            thread.join(30)
            publisher.transport.close()
        assert not thread.is_alive() and publisher.error is None, publisher.error

    def worker(self, pool: str, *extra: str, app: str = CATALOG_APP, **env: str) -> Process:
        number = len(self.processes.processes) + 1
        argv = [CELERY, "-A", app, "worker", "-P", pool, "-n", f"{self.name}-{number}@%h"]
        if pool == "prefork":
            argv += ["-c", "2"]
        argv += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
        argv += ["-Q", self.env["STRANGLER_CELERY_QUEUE"], "-l", "INFO"]
        argv += ["--inbox-health-port", str(self.health_port), *extra]
        return self.processes.start(f"worker-{number}", argv, {**self.env, **env})

    def recorded(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM strangler_inbox_record"))

    def health(self) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait_recorded(self, worker: Process, low: int, high: int, what: str) -> int:
        def between() -> int:
            if not worker.alive():
                raise AssertionError(f"the worker exited:\n{worker.log()[-3000:]}")
            count = self.recorded()
            assert count <= high, f"{count} recorded before the test could act"
            return count if count >= low else 0

        return int(wait_until(between, timeout=90, interval=0.02, what=what))

    def assert_every_event_applied_once(self, total: int, versions: int = VERSIONS) -> None:
        records = self.db.rows(
            "SELECT count(*), count(DISTINCT event_id) FROM strangler_inbox_record"
        )
        assert records == [(total, total)], records
        last = self.db.rows(
            "SELECT min(version), max(version), count(*) FROM strangler_inbox_projection_version"
        )
        assert last == [(versions, versions, PRODUCTS)], last
        names = self.db.rows("SELECT DISTINCT split_part(name, ' ', 3) FROM catalog_product")
        assert names == [(f"v{versions}",)], names
        assert self.transport.queue_depth(self.subscription.queue) == 0
        assert self.transport.queue_depth(self.subscription.dead_letter_queue) == 0


@pytest.fixture
def stream(
    catalog_database: str,
    rabbitmq_url: str,
    processes: ProcessGroup,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stream]:
    name = f"celery-{uuid.uuid4().hex[:8]}"
    db = Database(catalog_database)
    with psycopg.connect(catalog_database, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    env = base_env(
        CATALOG_DATABASE_URL=catalog_database,
        STRANGLER_CONTROL_DATABASE_URL=control_url(tmp_path_factory.getbasetemp()),
        BROKER_URL=rabbitmq_url,
        STRANGLER_EXCHANGE=f"{name}.events",
        CATALOG_INBOX_QUEUE=f"{name}.catalog",
        CATALOG_INBOX_BATCH_SIZE="50",
        CATALOG_INBOX_PREFETCH="100",
        STRANGLER_CELERY_QUEUE=f"{name}.strangler",
        INBOX_FAULT_FILE=str(tmp_path / "inbox-fault"),
    )
    settings = dataclasses.replace(
        transport_settings(), url=rabbitmq_url, exchange=f"{name}.events"
    )
    subscription = Subscription("catalog-service", f"{name}.catalog", ("catalog.#",))
    transport = get_transport(settings)
    transport.declare_subscription(subscription)
    try:
        yield Stream(name, env, transport, subscription, db, processes, free_port())
    finally:
        processes.stop_all()
        transport.delete_subscription(subscription)
        transport.close()
        with kombu.Connection(rabbitmq_url) as connection:  # the workers' task queue
            connection.default_channel.queue_delete(env["STRANGLER_CELERY_QUEUE"])


@pytest.mark.parametrize("pool", ["prefork", "solo"])
@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_worker_stopped_mid_stream_leaves_every_event_applied_once(
    stream: Stream, pool: str, stop: str
) -> None:
    first = stream.worker(pool)
    with stream.steady_stream() as publisher:
        stream.wait_recorded(first, 2 * PRODUCTS, MAX_ROUNDS * PRODUCTS, "the worker to apply")
        applied_at_stop, published_at_stop = stream.recorded(), publisher.published
        if stop == "SIGKILL":
            first.kill()  # the whole process group: main process and pool children, no goodbye
        else:
            first.signal(signal.SIGTERM)  # warm shutdown: the batch in flight is finished
            assert first.wait_exit(60) == 0, first.log()[-3000:]
            assert "inbox consumer stopping" in first.log()
        second = stream.worker(pool)
        stream.wait_recorded(
            second, applied_at_stop + PRODUCTS, MAX_ROUNDS * PRODUCTS, "the second worker to apply"
        )
        # The stream goes on across the stop: the second worker must also apply what came after
        # it (on a busy machine it can catch up with the backlog before the next round).
        wait_until(
            lambda: publisher.published > published_at_stop,
            timeout=30,
            what="a round published after the stop",
        )
    assert applied_at_stop < published_at_stop, "nothing was in flight when the worker stopped"
    assert publisher.published > published_at_stop, "the stream ended before the worker stopped"
    total = publisher.published
    stream.wait_recorded(second, total, total, "the second worker to apply the rest")
    wait_until(lambda: stream.health()[0] == 200, timeout=30, what="/healthz 200")
    assert stream.health()[1]["restarts"] == 0
    second.signal(signal.SIGTERM)
    assert second.wait_exit(60) == 0, second.log()[-3000:]
    stream.assert_every_event_applied_once(total, versions=publisher.rounds)


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_dead_consumer_thread_is_restarted_and_the_probe_says_so(
    stream: Stream, pool: str
) -> None:
    total = stream.publish_all()
    fault = Path(stream.env["INBOX_FAULT_FILE"])
    fault.touch()
    worker = stream.worker(pool, "--inbox-max-restarts", "50", app=FAULTY_APP)

    def probe_reports_the_death() -> dict[str, Any]:
        if not worker.alive():
            raise AssertionError(f"the worker exited:\n{worker.log()[-3000:]}")
        status, health = stream.health()
        return health if status == 503 and health["state"] == "restarting" else {}

    health = wait_until(probe_reports_the_death, timeout=60, what="/healthz 503 restarting")
    assert "injected" in health["last_error"], health
    assert stream.recorded() == 0
    fault.unlink()

    stream.wait_recorded(worker, total, total, "the restarted consumer to apply every event")
    status, health = stream.health()
    assert status == 200 and health["state"] == "running", health
    assert health["restarts"] >= 1 and health["messages"] == total, health
    assert "the inbox consumer thread died; restarting it" in worker.log()
    worker.signal(signal.SIGTERM)
    assert worker.wait_exit(60) == 0, worker.log()[-3000:]
    stream.assert_every_event_applied_once(total)


def test_a_consumer_that_keeps_dying_stops_the_worker_with_status_1(stream: Stream) -> None:
    Path(stream.env["INBOX_FAULT_FILE"]).touch()
    worker = stream.worker("prefork", "--inbox-max-restarts", "2", app=FAULTY_APP)
    assert worker.wait_exit(90) == 1, worker.log()[-3000:]
    log = worker.log()
    assert log.count("the inbox consumer thread died; restarting it") == 2, log[-3000:]
    assert "died 3 times in a row; giving up" in log


def test_a_configuration_consume_events_refuses_stops_the_worker(stream: Stream) -> None:
    worker = stream.worker("solo", CATALOG_INBOX_BATCH_SIZE="100", CATALOG_INBOX_PREFETCH="10")
    assert worker.wait_exit(90) == 1, worker.log()[-3000:]
    assert "PREFETCH" in worker.log() and "BATCH_SIZE" in worker.log()
