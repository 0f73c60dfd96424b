"""One trace from the front door to the service: gateway, monolith, relay and consumer export
their spans (STRANGLER_TRACE_FILE, one file per process) and one client POST is found in one trace.

On RabbitMQ and PostgreSQL when the suite runs on them (CI), else on the embedded transport and
SQLite files in tmp_path.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from strangler.observability.tracing import read_spans
from strangler.transport import get_transport
from strangler.transport.base import Subscription
from strangler.transport.conf import transport_settings
from tests.e2e.test_catalog_sync import MONOLITH_MANAGE, SERVICE_MANAGE, fresh_databases
from tests.identity import bearer, staff_token
from tests.processes import PYTHON, ProcessGroup, base_env, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROUTES = """
backends:
  monolith: ["http://127.0.0.1:{monolith}"]
routes:
  - {{name: catalog, prefix: /api/catalog/, mode: monolith}}
"""
PROCESSES = ("gateway", "monolith", "relay", "consumer")


@dataclass
class TracedStack:
    gateway_url: str
    service_url: str
    trace_dir: Path
    processes: ProcessGroup

    def spans(self) -> dict[str, list[dict[str, Any]]]:
        return {name: read_spans(self.trace_dir / f"{name}.jsonl") for name in PROCESSES}


@pytest.fixture
def traced_stack(
    request: pytest.FixtureRequest, processes: ProcessGroup, tmp_path: Path
) -> Iterator[TracedStack]:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is part of the dev install")
    name = f"trace-{uuid.uuid4().hex[:10]}"
    broker_url = os.environ.get("BROKER_URL", "")
    broker_url = (
        request.getfixturevalue("rabbitmq_url")
        if broker_url.startswith("amqp")
        else "filesystem://"
    )
    trace_dir = tmp_path / "traces"
    trace_dir.mkdir()
    with fresh_databases(request, tmp_path) as (monolith_db, service_db, control_db):
        env = base_env(
            DATABASE_URL=monolith_db,
            CATALOG_DATABASE_URL=service_db,
            STRANGLER_CONTROL_DATABASE_URL=control_db,
            BROKER_URL=broker_url,
            STRANGLER_EXCHANGE=f"{name}.events",
            STRANGLER_BROKER_FOLDER=str(tmp_path / "broker"),
            CATALOG_INBOX_QUEUE=f"{name}.catalog",
        )
        for name_, manage, args in (
            ("migrate-monolith", MONOLITH_MANAGE, ["migrate"]),
            ("migrate-control", MONOLITH_MANAGE, ["migrate", "--database", "control"]),
            ("migrate-service", SERVICE_MANAGE, ["migrate"]),
        ):
            process = processes.start(name_, [PYTHON, manage, *args, "--no-input"], env)
            assert process.wait_exit(180) == 0, process.log()
        setup = processes.start("setup-broker", [PYTHON, SERVICE_MANAGE, "setup_broker"], env)
        assert setup.wait_exit(60) == 0, setup.log()

        def traced(process: str) -> dict[str, str]:
            return {**env, "STRANGLER_TRACE_FILE": str(trace_dir / f"{process}.jsonl")}

        monolith_port, gateway_port, service_port = free_port(), free_port(), free_port()
        routes = tmp_path / "routes.yaml"
        routes.write_text(ROUTES.format(monolith=monolith_port))
        gateway_args = ["--routes", str(routes), "--no-shadow-store"]
        processes.start_http(
            "monolith",
            [PYTHON, MONOLITH_MANAGE, "runserver", "--noreload", f"127.0.0.1:{monolith_port}"],
            traced("monolith"),
            f"http://127.0.0.1:{monolith_port}/healthz",
        )
        processes.start("relay", [PYTHON, MONOLITH_MANAGE, "outbox_relay"], traced("relay"))
        processes.start("consumer", [PYTHON, SERVICE_MANAGE, "consume_events"], traced("consumer"))
        processes.start_http(
            "service",
            [PYTHON, SERVICE_MANAGE, "runserver", "--noreload", f"127.0.0.1:{service_port}"],
            env,
            f"http://127.0.0.1:{service_port}/readyz",
        )
        processes.start_http(
            "gateway",
            [PYTHON, MONOLITH_MANAGE, "rungateway", "--port", str(gateway_port), *gateway_args],
            traced("gateway"),
            f"http://127.0.0.1:{gateway_port}/healthz",
        )
        try:
            yield TracedStack(
                gateway_url=f"http://127.0.0.1:{gateway_port}",
                service_url=f"http://127.0.0.1:{service_port}",
                trace_dir=trace_dir,
                processes=processes,
            )
        finally:
            processes.stop_all()
            if broker_url.startswith("amqp"):
                settings = dataclasses.replace(
                    transport_settings(), url=broker_url, exchange=f"{name}.events"
                )
                transport = get_transport(settings)
                transport.delete_subscription(
                    Subscription("catalog-service", f"{name}.catalog", ("catalog.#",))
                )
                transport.close()


def test_a_post_through_the_gateway_is_one_trace_to_the_service_that_applied_it(
    traced_stack: TracedStack,
) -> None:
    stack = traced_stack
    body = {"sku": "TRACE-1", "name": "Traced", "price": "4.20", "currency": "EUR"}
    created = httpx.post(
        f"{stack.gateway_url}/api/catalog/products/",
        json=body,
        headers=bearer(staff_token(apps=("catalog",))),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    wait_until(
        lambda: (
            httpx.get(
                f"{stack.service_url}/api/catalog/products/{product_id}/", timeout=10
            ).status_code
            == 200
        ),
        timeout=90,
        interval=0.2,
        what="the product in the service",
    )

    def complete() -> dict[str, list[dict[str, Any]]] | None:
        spans = stack.spans()
        applied = [s for s in spans["consumer"] if s["name"] == "strangler.inbox.apply"]
        return spans if applied else None

    spans = wait_until(complete, timeout=30, interval=0.2, what="the consumer's apply span")

    # The gateway's request span starts the trace; the client sent no traceparent.
    front = [s for s in spans["gateway"] if s["kind"] == "server" and "POST" in s["name"]]
    assert len(front) == 1, spans["gateway"]
    trace_id = front[0]["trace_id"]
    assert front[0]["service"] == "gateway"

    def in_trace(process: str, name: str) -> list[dict[str, Any]]:
        return [
            s for s in spans[process] if s["trace_id"] == trace_id and s["name"].startswith(name)
        ]

    # The monolith's server span continues the gateway's; its write records the event there.
    server = [s for s in spans["monolith"] if s["trace_id"] == trace_id and s["kind"] == "server"]
    assert len(server) == 1 and server[0]["parent_span_id"] == front[0]["span_id"], spans
    recorded = in_trace("monolith", "strangler.record_event")
    assert [s["attributes"]["cloudevents.event_type"] for s in recorded] == [
        "catalog.product.upserted"
    ], spans["monolith"]
    assert recorded[0]["attributes"]["cloudevents.event_subject"] == str(product_id)
    inserts = [s for s in spans["monolith"] if s["trace_id"] == trace_id and s["kind"] == "client"]
    assert inserts, "the monolith's SQL statements are spans of the request (psycopg/dbapi)"

    # The relay's publish (one batch, the only event) continues the trace and links the event.
    published = in_trace("relay", "strangler.relay.publish")
    assert len(published) == 1, spans["relay"]
    assert published[0]["parent_span_id"] == recorded[0]["span_id"]
    assert {"trace_id": trace_id, "span_id": recorded[0]["span_id"]} in published[0]["links"]
    assert published[0]["service"] == "monolith" and published[0]["process"] == "outbox_relay"

    # The service's inbox applies it in the same trace, linked to the producing span.
    applied = in_trace("consumer", "strangler.inbox.apply")
    assert len(applied) == 1, spans["consumer"]
    assert applied[0]["kind"] == "consumer"
    assert applied[0]["service"] == "catalog-service"
    assert {"trace_id": trace_id, "span_id": recorded[0]["span_id"]} in applied[0]["links"]
    assert applied[0]["attributes"]["messaging.batch.message_count"] == 1
