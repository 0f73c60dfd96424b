"""The ASGI app refuses bad requests itself, whatever server runs it (no backend is contacted)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from strangler.gateway.app import GatewayApp
from strangler.gateway.conf import GatewaySettings
from strangler.gateway.sources import FileSource

# Port 9 (discard) on loopback: if anything tried to proxy, the test would see 502/503, not these.
ROUTES = 'backends:\n  monolith: ["http://127.0.0.1:9"]\nroutes: []\n'


def call(
    app: GatewayApp, headers: list[tuple[bytes, bytes]], method: str = "POST"
) -> tuple[int, dict]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": "/api/x",
        "raw_path": b"/api/x",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app.handle(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


@pytest.fixture
def app(tmp_path: Path) -> GatewayApp:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    source = FileSource(routes)
    gateway = GatewayApp(GatewaySettings(max_body_bytes=1000), source)
    gateway._apply(source.load())
    return gateway


def test_transfer_encoding_with_content_length_is_a_400(app: GatewayApp) -> None:
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-length", b"5"),
        (b"transfer-encoding", b"chunked"),
    ]
    status, body = call(app, headers)
    assert status == 400 and "Transfer-Encoding with Content-Length" in body["error"]["message"]


def test_conflicting_content_lengths_are_a_400(app: GatewayApp) -> None:
    headers = [(b"host", b"127.0.0.1"), (b"content-length", b"5"), (b"content-length", b"6")]
    assert call(app, headers)[0] == 400


def test_an_announced_body_over_the_limit_is_a_413(app: GatewayApp) -> None:
    assert call(app, [(b"host", b"127.0.0.1"), (b"content-length", b"1001")])[0] == 413


def test_an_unknown_host_is_a_421(app: GatewayApp) -> None:
    assert call(app, [(b"host", b"evil.example")], method="GET")[0] == 421
    assert call(app, [], method="GET")[0] == 421
