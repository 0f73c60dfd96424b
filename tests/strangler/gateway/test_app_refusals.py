"""The ASGI app refuses bad requests itself, whatever server runs it (no backend is contacted)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from strangler.gateway.app import GatewayApp
from tests.strangler.gateway.gateways import gateway_with

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

    asyncio.run(serve(app, scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


async def serve(app: GatewayApp, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """One request through the ASGI entry point (which starts the app); stopped afterwards."""
    try:
        await app(scope, receive, send)
    finally:
        await app.stop()


@pytest.fixture
def app(tmp_path: Path) -> GatewayApp:
    return gateway_with(tmp_path, ROUTES, max_body_bytes=1000)


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


def test_a_second_host_is_a_400(app: GatewayApp) -> None:
    headers = [(b"host", b"127.0.0.1"), (b"host", b"evil.example")]
    assert call(app, headers, method="GET")[0] == 400


@pytest.mark.parametrize("codings", [b"gzip, chunked", b"deflate,chunked", b"x-custom, chunked"])
def test_a_transfer_coding_other_than_chunked_is_a_501(app: GatewayApp, codings: bytes) -> None:
    headers = [(b"host", b"127.0.0.1"), (b"transfer-encoding", codings)]
    status, body = call(app, headers)
    assert status == 501 and body["error"]["code"] == "not_implemented"


@pytest.mark.parametrize(
    "codings", [b"chunked, chunked", b"chunked, gzip", b"gzip", b"chunked\x0b", b"chun ked"]
)
def test_a_transfer_coding_list_not_ending_in_one_chunked_is_a_400(
    app: GatewayApp, codings: bytes
) -> None:
    headers = [(b"host", b"127.0.0.1"), (b"transfer-encoding", codings)]
    assert call(app, headers)[0] == 400


def test_chunked_in_any_case_and_with_spaces_is_chunked(app: GatewayApp) -> None:
    headers = [(b"host", b"127.0.0.1"), (b"transfer-encoding", b" Chunked\t")]
    assert call(app, headers)[0] == 502  # accepted, then nothing listens on port 9


def call_path(app: GatewayApp, path: str) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(serve(app, scope, receive, send))
    return sent[0]["status"]


DENY_ROUTES = ROUTES.replace(
    "routes: []",
    "routes:\n  - {prefix: /admin/, mode: deny}\n  - {prefix: /private/, mode: deny, status: 403}",
)


def test_deny_routes_answer_404_or_403_at_the_edge(tmp_path: Path) -> None:
    app = gateway_with(tmp_path, DENY_ROUTES)
    assert call_path(app, "/admin/login/") == 404
    assert call_path(app, "/private/x") == 403
    assert call_path(app, "/elsewhere") == 502  # unmatched: the monolith (port 9: nobody)


def test_unmatched_paths_are_denied_when_the_setting_says_so(tmp_path: Path) -> None:
    app = gateway_with(tmp_path, DENY_ROUTES, unmatched="deny")
    assert call_path(app, "/elsewhere") == 404
