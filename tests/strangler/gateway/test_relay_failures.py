"""A relay the client's side breaks off: the backend is not blamed and nothing is held."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.strangler.gateway.gateways import gateway_with


@pytest.mark.parametrize("size", [100, 200_000], ids=["short-body", "streamed-body"])
def test_a_send_that_fails_ends_the_lease_and_drops_the_connection(
    tmp_path: Path, size: int
) -> None:
    # A client side that fails mid-answer (uvicorn's send raising, the task cancelled) is not
    # the backend's failure: the lease ends, and a connection with unread bytes is not pooled.
    body = b"x" * size

    async def backend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (size, body))
        await writer.drain()
        await reader.read()  # until the gateway closes its side

    async def run() -> tuple[int, int, int]:
        server = await asyncio.start_server(backend, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        routes = f'backends:\n  monolith: ["http://127.0.0.1:{port}"]\nroutes: []\n'
        app = gateway_with(tmp_path, routes)
        scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": "/api/x",
            "raw_path": b"/api/x",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            raise RuntimeError("the client is gone")

        try:
            with pytest.raises(RuntimeError, match="the client is gone"):
                await app(scope, receive, send)
            (instance,) = app.registry.backends["monolith"].instances
            return instance.outstanding, instance.requests, instance.failures
        finally:
            await app.stop()
            server.close()

    outstanding, requests, failures = asyncio.run(run())
    assert (outstanding, requests, failures) == (0, 1, 0)
