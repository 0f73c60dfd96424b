"""Routes with a context send unsafe methods to the context's writer; frozen writes get a 503."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from strangler.gateway.app import GatewayApp
from strangler.gateway.conf import GatewaySettings
from strangler.gateway.ownership import (
    ControlDatabaseReader,
    OwnershipReadError,
    OwnershipWatcher,
)
from strangler.gateway.routing import (
    ContextOwner,
    Route,
    RoutingConfigError,
    parse_routing_table,
    write_decision,
)
from strangler.gateway.sources import FileSource

BACKENDS = {"monolith": ["http://127.0.0.1:9"], "catalog": ["http://127.0.0.1:9"]}


def route(mode: str = "shadow", **extra: Any) -> Route:
    raw = {"prefix": "/api/catalog/", "mode": mode, "service": "catalog", "context": "catalog"}
    table = parse_routing_table({"backends": BACKENDS, "routes": [{**raw, **extra}]})
    return table.routes[0]


def owner(writer: str = "monolith", **extra: Any) -> ContextOwner:
    return ContextOwner(context="catalog", writer=writer, service="catalog-service", **extra)


# -- the decision ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("mode", ["monolith", "shadow", "canary", "service"])
def test_unsafe_methods_go_to_the_monolith_while_it_writes_whatever_the_mode(
    mode: str, method: str
) -> None:
    decision = write_decision(route(mode, percent=100), method, owner("monolith"))
    assert decision is not None and decision.backend == "monolith"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("mode", ["monolith", "shadow", "canary", "service"])
def test_unsafe_methods_go_to_the_routes_service_backend_once_the_service_writes(
    mode: str, method: str
) -> None:
    decision = write_decision(route(mode, percent=0), method, owner("catalog-service"))
    assert decision is not None and decision.backend == "catalog"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_are_left_to_the_routes_mode(method: str) -> None:
    assert write_decision(route("canary", percent=50), method, owner("catalog-service")) is None
    assert write_decision(route("shadow"), method, owner("monolith", frozen=True)) is None


def test_a_route_without_context_is_left_to_its_mode() -> None:
    plain = parse_routing_table(
        {"backends": BACKENDS, "routes": [{"prefix": "/", "mode": "service", "service": "catalog"}]}
    ).routes[0]
    assert write_decision(plain, "POST", owner("monolith")) is None


def test_frozen_writes_are_answered_503_with_retry_after_by_the_gateway() -> None:
    decision = write_decision(
        route("service"), "POST", owner("monolith", frozen=True, frozen_reason="cutover 7")
    )
    assert decision is not None
    assert (decision.backend, decision.status, decision.code) == (None, 503, "writes_frozen")
    assert decision.retry_after == 2
    assert "cutover 7" in decision.message


def test_an_unknown_writer_is_never_guessed() -> None:
    assert write_decision(route(), "POST", None) == write_decision(route(), "DELETE", None)
    unknown = write_decision(route(), "POST", None)
    assert unknown is not None and (unknown.backend, unknown.status) == (None, 503)
    assert unknown.retry_after == 1
    stranger = write_decision(route(), "POST", owner("orders-service"))
    assert stranger is not None and (stranger.backend, stranger.status) == (None, 503)
    assert stranger.code == "writer_not_routed" and "orders-service" in stranger.message


# -- the routing table --------------------------------------------------------------------------


def test_a_context_route_needs_a_service_backend() -> None:
    with pytest.raises(RoutingConfigError, match="needs 'service'"):
        parse_routing_table(
            {"backends": BACKENDS, "routes": [{"prefix": "/", "context": "catalog"}]}
        )
    with pytest.raises(RoutingConfigError, match="context name"):
        parse_routing_table(
            {
                "backends": BACKENDS,
                "routes": [{"prefix": "/", "service": "catalog", "context": ["catalog"]}],
            }
        )


def test_the_table_lists_its_contexts_and_routes_show_theirs() -> None:
    table = parse_routing_table(
        {
            "backends": BACKENDS,
            "routes": [
                {"prefix": "/a/", "mode": "monolith", "service": "catalog", "context": "catalog"},
                {"prefix": "/b/"},
            ],
        }
    )
    assert table.contexts == frozenset({"catalog"})
    assert table.routes[0].to_dict()["context"] == "catalog"
    assert "context" not in table.routes[1].to_dict()


@pytest.mark.django_db
def test_the_database_routing_table_carries_the_context() -> None:
    from strangler.gateway.models import Backend
    from strangler.gateway.models import Route as RouteRow
    from strangler.gateway.selectors import routing_table_from_db

    Backend.objects.create(name="monolith").instances.create(url="http://127.0.0.1:8001")
    catalog = Backend.objects.create(name="catalog")
    RouteRow.objects.create(prefix="/api/catalog/", mode="monolith", service=catalog, context="x")
    assert routing_table_from_db().routes[0].context == "x"


# -- the watcher ----------------------------------------------------------------------------------


class ScriptedReader:
    """A reader whose answers the test sets: a ContextOwner, or an error."""

    def __init__(self) -> None:
        self.answer: ContextOwner | OwnershipReadError = owner("monolith", epoch=1)
        self.reads = 0

    def read(self, context: str) -> ContextOwner:
        self.reads += 1
        if isinstance(self.answer, OwnershipReadError):
            raise self.answer
        return self.answer

    def default(self, context: str) -> ContextOwner:
        if context != "catalog":
            raise RoutingConfigError(f"unknown context {context!r}")
        return owner("monolith", read=False)

    def close(self) -> None:
        pass


def watcher_with(reader: ScriptedReader) -> OwnershipWatcher:
    watcher = OwnershipWatcher(reader, interval=0.05)
    watcher.track(["catalog"])
    return watcher


def test_a_failed_read_keeps_the_last_known_writer_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = ScriptedReader()
    watcher = watcher_with(reader)

    async def scenario() -> None:
        reader.answer = owner("catalog-service", epoch=4)
        await watcher.refresh()
        reader.answer = OwnershipReadError("control database 'control': connection refused")
        with caplog.at_level(logging.WARNING, logger="strangler.gateway.ownership"):
            await watcher.refresh()
            await watcher.refresh()
        await watcher.close()

    asyncio.run(scenario())
    assert watcher.get("catalog") == owner("catalog-service", epoch=4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per outage, not once per pass
    assert "keeping the last known writer catalog-service" in warnings[0]
    assert watcher.status()["catalog"]["failing"] is True


def test_with_nothing_read_yet_the_default_writer_is_used_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = ScriptedReader()
    reader.answer = OwnershipReadError("control database 'control': no such host")
    watcher = watcher_with(reader)

    async def scenario() -> None:
        with caplog.at_level(logging.WARNING, logger="strangler.gateway.ownership"):
            await watcher.refresh()
        reader.answer = owner("catalog-service", epoch=2)
        await watcher.refresh()
        await watcher.close()

    assert watcher.get("catalog") is None
    asyncio.run(scenario())
    assert "configured default writer monolith" in caplog.text
    assert watcher.get("catalog") == owner("catalog-service", epoch=2)  # then read for real


def test_the_watcher_refreshes_on_its_interval() -> None:
    reader = ScriptedReader()
    watcher = watcher_with(reader)

    async def scenario() -> None:
        task = asyncio.create_task(watcher.run())
        reader.answer = owner("catalog-service", epoch=9)
        for _ in range(100):  # bounded: 5 s at most
            if watcher.get("catalog") == reader.answer:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await watcher.close()

    asyncio.run(scenario())
    assert watcher.get("catalog") == owner("catalog-service", epoch=9)


def test_a_table_naming_an_unconfigured_context_is_refused() -> None:
    table = parse_routing_table(
        {
            "backends": BACKENDS,
            "routes": [{"prefix": "/", "service": "catalog", "context": "orders"}],
        }
    )
    with pytest.raises(RoutingConfigError, match="orders"):
        watcher_with(ScriptedReader()).check(table)
    with pytest.raises(RoutingConfigError, match="no ownership reader"):
        OwnershipWatcher(None, interval=1).check(table)


@pytest.mark.django_db(databases=["default", "control"], transaction=True)
def test_the_control_database_reader_sees_the_writer_move_and_freeze() -> None:
    from strangler.ownership.services import freeze_writes, set_writer

    reader = ControlDatabaseReader()
    with pytest.raises(RoutingConfigError, match="unknown context"):
        reader.default("nonsense")
    watcher = OwnershipWatcher(reader, interval=1)
    watcher.track(["catalog"])

    def read() -> ContextOwner | None:
        asyncio.run(watcher.refresh())  # in the watcher's thread, as in the gateway
        return watcher.get("catalog")

    before = read()
    set_writer("catalog", "service")
    moved = read()
    freeze_writes("catalog", reason="test freeze")
    frozen = read()
    asyncio.run(watcher.close())
    assert before is not None and (before.writer, before.frozen) == ("monolith", False)
    assert moved is not None and (moved.writer, moved.service) == (
        "catalog-service",
        "catalog-service",
    )
    assert moved.read and moved.epoch > before.epoch
    assert frozen is not None and frozen.frozen and frozen.frozen_reason == "test freeze"


# -- the app: a frozen context is answered at the edge ---------------------------------------------

# Port 9 (discard) on loopback: if anything were proxied, the answer would be 502/503 "unavailable".
ROUTES = """
backends:
  monolith: ["http://127.0.0.1:9"]
  catalog: ["http://127.0.0.1:9"]
routes:
  - {prefix: /api/catalog/, mode: shadow, service: catalog, context: catalog}
"""


def call(app: GatewayApp, method: str) -> tuple[int, dict[bytes, bytes], dict]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": "/api/catalog/products/",
        "raw_path": b"/api/catalog/products/",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"content-length", b"2")],
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def serve() -> None:  # the ASGI entry point starts the app; stopped afterwards
        try:
            await app(scope, receive, send)
        finally:
            await app.stop()

    asyncio.run(serve())
    return sent[0]["status"], dict(sent[0]["headers"]), json.loads(sent[1]["body"])


def test_the_gateway_answers_frozen_writes_itself(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    source = FileSource(routes)
    reader = ScriptedReader()
    reader.answer = owner("catalog-service", frozen=True, retry_after=3)
    settings = GatewaySettings(health_interval=0, connect_timeout=0.2, freeze_hold_seconds=0)
    app = GatewayApp(settings, source, ownership_reader=reader)

    status, headers, body = call(app, "POST")
    assert (status, headers[b"retry-after"], body["error"]["code"]) == (503, b"3", "writes_frozen")
    sample = app.metrics.registry.get_sample_value
    assert sample("gateway_writes_frozen_total", {"context": "catalog"}) == 1
    assert sample("gateway_context_frozen", {"context": "catalog"}) == 1
    assert (
        sample("gateway_context_writer", {"context": "catalog", "writer": "catalog-service"}) == 1
    )
    assert sample("gateway_context_writer", {"context": "catalog", "writer": "monolith"}) == 0
    # A read is not frozen: it follows the shadow mode to the monolith (down here, so no answer).
    status, headers, body = call(app, "GET")
    assert status in (502, 503) and body["error"]["code"] != "writes_frozen"
    assert b"retry-after" not in headers
