"""Writes held across a freeze: sent to the writer once a fresh read finds writes open, within
FREEZE_HOLD_SECONDS; intended 503s never count against an instance (through the ASGI app)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from strangler.gateway.app import GatewayApp
from strangler.gateway.conf import GatewaySettings
from strangler.gateway.routing import ContextOwner, RoutingConfigError
from strangler.gateway.sources import FileSource

FROZEN_BODY = {"error": {"code": "writes_frozen", "message": "backend says frozen", "fields": {}}}


def owner(writer: str = "monolith", **extra: Any) -> ContextOwner:
    return ContextOwner(context="catalog", writer=writer, service="catalog-service", **extra)


class Reader:
    """The control database as the test sets it."""

    def __init__(self, answer: ContextOwner) -> None:
        self.answer = answer

    def read(self, context: str) -> ContextOwner:
        return self.answer

    def default(self, context: str) -> ContextOwner:
        if context != "catalog":
            raise RoutingConfigError(f"unknown context {context!r}")
        return owner(read=False)

    def close(self) -> None:
        pass


class Backend:
    """A loopback HTTP/1.1 server that answers each request from a script and records it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.frozen_answers = 0  # this many intended 503s first, then 201s
        self.received: list[tuple[str, bytes]] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method = request_line.split(" ")[0]
                length = 0
                for line in lines:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                writer.write(self._answer(method, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, method: str, body: bytes) -> bytes:
        if method == "GET":  # health checks
            return b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
        self.received.append((method, body))
        if self.frozen_answers > 0:
            self.frozen_answers -= 1
            data = json.dumps(FROZEN_BODY).encode()
            head = (
                "HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\nx-strangler-intended: 1\r\n"
            )
        else:
            data = json.dumps({"served_by": self.name}).encode()
            head = "HTTP/1.1 201 Created\r\n"
        return (
            f"{head}content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n".encode()
            + data
        )


class Stack:
    def __init__(self, gateway: GatewayApp, reader: Reader, backends: dict[str, Backend]) -> None:
        self.gateway = gateway
        self.reader = reader
        self.backends = backends
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://127.0.0.1"
        )

    def post(self, body: bytes = b'{"sku": "A"}') -> Awaitable[httpx.Response]:
        return self.client.post("/api/catalog/products/", content=body)

    def sample(self, name: str, labels: dict[str, str]) -> float | None:
        return self.gateway.metrics.registry.get_sample_value(name, labels)

    async def until_held(self, count: int = 1) -> None:
        deadline = time.monotonic() + 10
        while self.sample("gateway_writes_held", {"context": "catalog"}) != count:
            assert time.monotonic() < deadline, "the write was never held"
            await asyncio.sleep(0.01)

    def instances(self) -> list[dict[str, Any]]:
        backends = self.gateway.status()["backends"]
        return [i for b in backends.values() for i in b["instances"]]


@asynccontextmanager
async def running(tmp_path: Path, state: ContextOwner, **settings: Any) -> AsyncIterator[Stack]:
    backends = {"monolith": Backend("monolith"), "catalog": Backend("catalog")}
    for backend in backends.values():
        await backend.start()
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "backends:\n"
        + "".join(f'  {name}: ["{b.url}"]\n' for name, b in backends.items())
        + "routes:\n  - {prefix: /api/catalog/, mode: monolith, service: catalog, "
        "context: catalog}\n"
    )
    reader = Reader(state)
    options = {
        "health_interval": 0,
        "ownership_refresh": 0.02,
        "passive_failures": 2,
        "circuit_failures": 2,
        **settings,
    }
    gateway = GatewayApp(GatewaySettings(**options), FileSource(routes), ownership_reader=reader)
    stack = Stack(gateway, reader, backends)
    try:
        yield stack
    finally:
        await stack.client.aclose()
        await gateway.stop()
        for backend in backends.values():
            await backend.stop()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_a_write_frozen_at_the_gateway_is_held_and_sent_to_the_new_writer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, owner("monolith", frozen=True, epoch=1)) as stack:
            write = asyncio.ensure_future(stack.post())
            await stack.until_held()
            stack.reader.answer = owner("catalog-service", epoch=2)  # the cutover moved it
            response = await write
            assert response.status_code == 201
            assert response.json() == {"served_by": "catalog"}
            assert stack.backends["catalog"].received == [("POST", b'{"sku": "A"}')]
            assert stack.backends["monolith"].received == []
            assert stack.sample(
                "gateway_held_writes_total", {"context": "catalog", "outcome": "sent"}
            )
            assert stack.sample("gateway_writes_frozen_total", {"context": "catalog"}) is None

    run(scenario)


def test_a_backends_intended_503_is_held_until_a_newer_read_and_never_ejects(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running(tmp_path, owner("monolith", epoch=1)) as stack:
            monolith = stack.backends["monolith"]
            monolith.frozen_answers = 1  # its view of the freeze is newer than the gateway's
            response = await stack.post()
            assert response.status_code == 201 and response.json() == {"served_by": "monolith"}
            assert len(monolith.received) == 2  # the first was refused, nothing written
            for instance in stack.instances():
                assert (instance["failures"], instance["ejections"], instance["circuit"]) == (
                    0,
                    0,
                    "closed",
                )

    run(scenario)


def test_intended_503s_past_the_hold_reach_the_client_and_never_open_the_breaker(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running(tmp_path, owner("monolith", epoch=1), freeze_hold_seconds=0.2) as stack:
            monolith = stack.backends["monolith"]
            monolith.frozen_answers = 10_000
            for _ in range(4):  # twice the failure thresholds each time
                response = await stack.post()
                assert response.status_code == 503
                assert response.json() == FROZEN_BODY
                assert response.headers["retry-after"] == "2"
            url = monolith.url
            labels = {"backend": "monolith", "instance": url}
            assert stack.sample("gateway_instance_ejections_total", labels) == 0
            assert stack.sample("gateway_circuit_opened_total", labels) == 0
            assert stack.sample("gateway_instance_healthy", labels) == 1
            # Each write is held and tried again while the control database says the writes are
            # open; the hold ends in a wait (expired) or, when the deadline passes during a try,
            # with that try's 503 relayed as it is (sent). Either way the client gets the 503.
            outcomes = [
                stack.sample("gateway_held_writes_total", {"context": "catalog", "outcome": o})
                for o in ("expired", "sent")
            ]
            assert sum(value or 0 for value in outcomes) == 4

    run(scenario)


def test_a_freeze_longer_than_the_hold_is_answered_503_by_the_gateway(tmp_path: Path) -> None:
    async def scenario() -> None:
        frozen = owner("monolith", frozen=True, retry_after=3)
        async with running(tmp_path, frozen, freeze_hold_seconds=0.1) as stack:
            response = await stack.post()
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "writes_frozen"
            assert response.headers["retry-after"] == "3"
            assert stack.backends["monolith"].received == []
            assert stack.sample("gateway_writes_frozen_total", {"context": "catalog"}) == 1

    run(scenario)


def test_without_a_hold_a_frozen_write_is_answered_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        frozen = owner("monolith", frozen=True)
        async with running(tmp_path, frozen, freeze_hold_seconds=0) as stack:
            response = await stack.post()
            assert response.status_code == 503
            assert stack.sample("gateway_writes_held", {"context": "catalog"}) is None

    run(scenario)


def test_a_body_over_the_buffer_is_not_held(tmp_path: Path) -> None:
    async def scenario() -> None:
        frozen = owner("monolith", frozen=True)
        async with running(tmp_path, frozen, buffer_body_bytes=16) as stack:
            response = await stack.post(b'{"sku": "' + b"x" * 64 + b'"}')
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "writes_frozen"
            assert response.headers.get("connection") == "close"
            assert stack.sample("gateway_writes_held", {"context": "catalog"}) is None

    run(scenario)


def test_a_client_that_leaves_while_held_is_never_sent_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, owner("monolith", frozen=True)) as stack:
            left = asyncio.Event()
            messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

            async def receive() -> dict[str, Any]:
                if messages:
                    return messages.pop()
                await left.wait()
                return {"type": "http.disconnect"}

            sent: list[dict[str, Any]] = []

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {
                "type": "http",
                "method": "POST",
                "path": "/api/catalog/products/",
                "raw_path": b"/api/catalog/products/",
                "query_string": b"",
                "headers": [(b"host", b"127.0.0.1"), (b"content-length", b"2")],
                "client": ("127.0.0.1", 50000),
                "scheme": "http",
            }
            call = asyncio.ensure_future(stack.gateway(scope, receive, send))
            await stack.until_held()
            left.set()
            await call
            assert sent == []
            assert stack.backends["monolith"].received == []
            assert (
                stack.sample(
                    "gateway_held_writes_total", {"context": "catalog", "outcome": "client_gone"}
                )
                == 1
            )

    run(scenario)
