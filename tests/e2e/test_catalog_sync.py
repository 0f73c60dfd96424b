"""End to end: monolith, outbox relay, the catalog service's consumer and API as real processes.

Each test gets fresh databases (PostgreSQL when the suite runs on it, else SQLite files), its own
exchange and queue (RabbitMQ when BROKER_URL is amqp://, else the embedded transport in tmp_path),
and drives everything over HTTP on loopback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connection

from strangler.contracts.envelope import Envelope, TransportMessage
from strangler.transport import get_transport
from strangler.transport.base import OutgoingMessage, Subscription, Transport
from strangler.transport.conf import transport_settings
from tests.identity import bearer, staff_token
from tests.processes import PYTHON, ROOT, ProcessGroup, base_env, free_port, wait_until

# Four real processes per test on a 2-core machine: allow more than the default 300 s when busy.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MONOLITH_MANAGE = str(ROOT / "manage.py")
SERVICE_MANAGE = str(ROOT / "extracted" / "catalog" / "manage.py")
SYNC_TIMEOUT = 90.0


class Database:
    """A database of one side, read directly by the test (the processes own the writes)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite:///"):
            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as db:
                return db.execute(sql.replace("%s", "?"), params).fetchall()
        with psycopg.connect(self.url.split("?")[0], autocommit=True) as db:
            return db.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.rows(sql, params)[0][0]


@contextlib.contextmanager
def fresh_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str, str]]:
    """(monolith, service, control) URLs: new PostgreSQL databases, or SQLite files in tmp_path."""
    sides = ("monolith", "catalog", "control")
    if connection.vendor != "postgresql":
        yield tuple(f"sqlite:///{tmp_path / f'{side}.sqlite3'}" for side in sides)  # type: ignore[misc]
        return
    admin_url = request.getfixturevalue("postgres_url")
    suffix = uuid.uuid4().hex[:10]
    names = [f"e2e_{side}_{suffix}" for side in sides]
    base = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(f"{base}/{name}" for name in names)  # type: ignore[misc]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclasses.dataclass
class CatalogStack:
    """The running processes, their URLs and databases, and the broker they share."""

    processes: ProcessGroup
    env: dict[str, str]
    monolith_url: str
    service_url: str
    monolith_db: Database
    service_db: Database
    transport: Transport
    subscription: Subscription
    consumer_name: str = "consumer"

    def start_consumer(self, **extra_env: str) -> Any:
        name = f"consumer-{len(self.processes.processes)}"
        self.consumer_name = name
        argv = [PYTHON, SERVICE_MANAGE, "consume_events"]
        return self.processes.start(name, argv, {**self.env, **extra_env})

    def consumer(self) -> Any:
        return next(p for p in self.processes.processes if p.name == self.consumer_name)

    def monolith(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**bearer(staff_token()), **kwargs.pop("headers", {})}
        response = httpx.request(
            method, f"{self.monolith_url}{path}", timeout=10, headers=headers, **kwargs
        )
        assert response.status_code < 400, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response

    def create_product(self, index: int, **fields: Any) -> dict[str, Any]:
        body = {
            "sku": f"E2E-{index}",
            "name": f"Product {index}",
            "description": "made by the end-to-end test",
            "price": f"{index}.50",
            "currency": "EUR",
            **fields,
        }
        return self.monolith("POST", "/api/catalog/products/", json=body).json()

    def listing(self, base_url: str, path: str) -> dict[str, Any]:
        body = httpx.get(f"{base_url}{path}", timeout=10).json()
        return {"count": body["count"], "results": body["results"]}

    def wait_in_sync(self, *queries: str) -> None:
        """Until every list query answers the same JSON (count and results) on both sides."""
        queries = queries or (
            "/api/catalog/products/?page_size=200",
            "/api/catalog/categories/?page_size=200",
        )

        def same() -> bool:
            for query in queries:
                left = self.listing(self.monolith_url, query)
                right = self.listing(self.service_url, query)
                if left != right:
                    raise AssertionError(
                        f"{query}: monolith {left['count']}, service {right['count']}"
                    )
            return True

        try:
            wait_until(same, timeout=SYNC_TIMEOUT, interval=0.1, what="the service to catch up")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.processes.logs()}") from exc


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, processes: ProcessGroup, tmp_path: Path
) -> Iterator[CatalogStack]:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    broker_url = os.environ.get("BROKER_URL", "")
    if broker_url.startswith("amqp"):
        broker_url = request.getfixturevalue("rabbitmq_url")
    else:
        broker_url = "filesystem://"
    with fresh_databases(request, tmp_path) as (monolith_db, service_db, control_db):
        env = base_env(
            DATABASE_URL=monolith_db,
            CATALOG_DATABASE_URL=service_db,
            STRANGLER_CONTROL_DATABASE_URL=control_db,
            BROKER_URL=broker_url,
            STRANGLER_EXCHANGE=f"{name}.events",
            STRANGLER_BROKER_FOLDER=str(tmp_path / "broker"),
            CATALOG_INBOX_QUEUE=f"{name}.catalog",
            CATALOG_INBOX_RETRY_BACKOFF="0.05",
            CATALOG_INBOX_MAX_ATTEMPTS="3",
        )
        for label, manage, args in (
            ("migrate-monolith", MONOLITH_MANAGE, ["migrate"]),
            ("migrate-control", MONOLITH_MANAGE, ["migrate", "--database", "control"]),
            ("migrate-service", SERVICE_MANAGE, ["migrate"]),
        ):
            process = processes.start(label, [PYTHON, manage, *args, "--no-input"], env)
            assert process.wait_exit(180) == 0, process.log()
        setup = processes.start("setup-broker", [PYTHON, SERVICE_MANAGE, "setup_broker"], env)
        assert setup.wait_exit(60) == 0, setup.log()

        settings = dataclasses.replace(
            transport_settings(),
            url=broker_url,
            exchange=f"{name}.events",
            data_folder=tmp_path / "broker",
        )
        transport = get_transport(settings)
        subscription = Subscription("catalog-service", f"{name}.catalog", ("catalog.#",))
        monolith_port, service_port = free_port(), free_port()
        stack = CatalogStack(
            processes=processes,
            env=env,
            monolith_url=f"http://127.0.0.1:{monolith_port}",
            service_url=f"http://127.0.0.1:{service_port}",
            monolith_db=Database(monolith_db),
            service_db=Database(service_db),
            transport=transport,
            subscription=subscription,
        )
        processes.start_http(
            "monolith",
            [PYTHON, MONOLITH_MANAGE, "runserver", "--noreload", f"127.0.0.1:{monolith_port}"],
            env,
            f"{stack.monolith_url}/healthz",
        )
        processes.start("relay", [PYTHON, MONOLITH_MANAGE, "outbox_relay"], env)
        processes.start_http(
            "service",
            [PYTHON, SERVICE_MANAGE, "runserver", "--noreload", f"127.0.0.1:{service_port}"],
            env,
            f"{stack.service_url}/readyz",
        )
        try:
            yield stack
        finally:
            processes.stop_all()
            if broker_url.startswith("amqp"):
                transport.delete_subscription(subscription)
            transport.close()


def dead_letters(stack: CatalogStack) -> list[Any]:
    with stack.transport.consumer(stack.subscription.dead_letter_queue) as consumer:
        taken: list[Any] = []
        while batch := consumer.fetch(100, 0.5):
            taken.extend(batch)
        for delivery in taken:
            delivery.ack()
    return taken


def test_products_created_updated_and_deleted_in_the_monolith_appear_identically(
    stack: CatalogStack,
) -> None:
    stack.start_consumer()
    tools = stack.monolith(
        "POST", "/api/catalog/categories/", json={"name": "Tools", "slug": "tools"}
    )
    saws = stack.monolith(
        "POST",
        "/api/catalog/categories/",
        json={"name": "Saws", "slug": "saws", "parent": tools.json()["id"]},
    ).json()
    products = [stack.create_product(i, category=saws["id"]) for i in range(1, 6)]
    stack.monolith("PATCH", f"/api/catalog/products/{products[1]['id']}/", json={"name": "Renamed"})
    stack.monolith(
        "PATCH",
        f"/api/catalog/products/{products[2]['id']}/",
        json={"price": "1.99", "active": False},
    )
    stack.monolith("DELETE", f"/api/catalog/products/{products[3]['id']}/")
    stack.monolith("PATCH", f"/api/catalog/categories/{saws['id']}/", json={"name": "All saws"})

    stack.wait_in_sync(
        "/api/catalog/products/?page_size=200",
        "/api/catalog/categories/?page_size=200",
        f"/api/catalog/products/?category={saws['id']}&ordering=-price",
        "/api/catalog/products/?active=false",
        "/api/catalog/products/?search=renamed",
    )
    for product in products:
        path = f"/api/catalog/products/{product['id']}/"
        monolith = httpx.get(f"{stack.monolith_url}{path}")
        service = httpx.get(f"{stack.service_url}{path}")
        assert (service.status_code, service.json()) == (monolith.status_code, monolith.json())
    assert (
        httpx.get(f"{stack.service_url}/api/catalog/products/{products[3]['id']}/").status_code
        == 404
    )


def test_consumer_killed_with_sigkill_mid_stream_applies_every_event_exactly_once(
    stack: CatalogStack,
) -> None:
    def rename(product: dict[str, Any]) -> None:
        path = f"/api/catalog/products/{product['id']}/"
        stack.monolith("PATCH", path, json={"name": f"Changed {product['id']}"})

    with ThreadPoolExecutor(4) as pool:  # a backlog of 250 events while no consumer runs
        created = list(pool.map(stack.create_product, range(1, 201)))
        list(pool.map(rename, created[::4]))
    wait_until(
        lambda: (
            stack.monolith_db.scalar(
                "SELECT count(*) FROM strangler_outbox_event WHERE published_at IS NULL"
            )
            == 0
        ),
        timeout=SYNC_TIMEOUT,
        what="the relay to publish the backlog",
    )
    consumer = stack.start_consumer(CATALOG_INBOX_BATCH_SIZE="10", CATALOG_INBOX_PREFETCH="20")

    def some_applied() -> bool:
        if not consumer.alive():
            raise AssertionError(f"the consumer exited:\n{consumer.log()[-3000:]}")
        return stack.service_db.scalar("SELECT count(*) FROM strangler_inbox_record") >= 20

    wait_until(some_applied, timeout=SYNC_TIMEOUT, interval=0.005, what="the first commits")
    consumer.kill()
    applied_at_kill = stack.service_db.scalar("SELECT count(*) FROM strangler_inbox_record")
    assert applied_at_kill < 250, "the consumer finished before it could be killed mid-stream"

    restarted = stack.start_consumer()
    stack.wait_in_sync()

    published = stack.monolith_db.rows("SELECT event_id FROM strangler_outbox_event")
    recorded = stack.service_db.rows(
        "SELECT event_id, count(*) FROM strangler_inbox_record GROUP BY event_id"
    )
    # SQLite stores UUIDs as bare hex, PostgreSQL as uuid: compare them as UUIDs.
    assert {uuid.UUID(str(e)) for (e,) in published} == {uuid.UUID(str(e)) for e, _ in recorded}
    assert all(count == 1 for _, count in recorded)
    assert stack.service_db.scalar("SELECT count(*) FROM catalog_product") == 200
    assert restarted.alive()


def test_malformed_event_and_unknown_version_are_dead_lettered_while_later_events_flow(
    stack: CatalogStack,
) -> None:
    stack.start_consumer()
    stack.create_product(1)
    stack.wait_in_sync()
    good = Envelope.new(
        type="catalog.product.deleted", source="monolith", data={"id": 1}, subject=1
    ).to_message()
    queue = stack.subscription.queue
    outcomes = stack.transport.publish_batch(
        [
            OutgoingMessage(
                "malformed",
                queue,
                TransportMessage({"ce-type": "catalog.product.upserted"}, "application/json", b"{"),
                exchange="",
            ),
            OutgoingMessage(
                "unknown-version",
                queue,
                TransportMessage(
                    {**good.headers, "ce-dataversion": "9"}, good.content_type, good.body
                ),
                exchange="",
            ),
        ]
    )
    assert all(o.confirmed for o in outcomes), outcomes
    for index in range(2, 12):
        stack.create_product(index)

    stack.wait_in_sync()
    assert httpx.get(f"{stack.service_url}/api/catalog/products/1/").status_code == 200

    def two_dead_letters() -> list[Any]:
        found.extend(dead_letters(stack))
        return found if len(found) >= 2 else []

    found: list[Any] = []
    wait_until(two_dead_letters, timeout=30, what="two dead letters")
    errors = sorted(d.headers["x-strangler-error"] for d in found)
    assert errors[0].startswith("EnvelopeError: missing required CloudEvents attribute(s): ce-id")
    assert errors[1].startswith("UnknownEventVersion: catalog.product.deleted has no version 9")
    assert all(d.headers["x-strangler-reason"] == "invalid" for d in found)
    metrics = httpx.get(f"{stack.service_url}/metrics").text
    assert "strangler_inbox_dead_letter_depth" in metrics


@pytest.mark.postgres
def test_consumer_recovers_when_postgres_terminates_its_connection(stack: CatalogStack) -> None:
    application = f"catalog-consumer-{uuid.uuid4().hex[:6]}"
    consumer = stack.start_consumer(
        CATALOG_DATABASE_URL=f"{stack.service_db.url}?application_name={application}"
    )
    stack.create_product(1)
    stack.wait_in_sync()

    def terminate() -> int:
        return stack.service_db.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            (application,),
        )

    assert wait_until(terminate, timeout=10, what="the consumer's backend") >= 1
    for index in range(2, 22):
        stack.create_product(index)
    stack.wait_in_sync()
    assert consumer.alive()
    assert terminate() >= 1  # it reconnected (same application_name)
    stack.create_product(22)
    stack.wait_in_sync()
    assert consumer.alive()
