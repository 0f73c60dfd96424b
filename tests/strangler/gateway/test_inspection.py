"""Request inspection alone: a scope in, the backend's view of the request (or a refusal) out."""

from __future__ import annotations

from typing import Any

import pytest

from strangler.gateway.headers import TrustedProxies
from strangler.gateway.inspection import GatewayRefusal, ProxiedRequest, inspect_request


def inspect(headers: list[tuple[bytes, bytes]], **scope: Any) -> ProxiedRequest:
    return inspect_request(
        {
            "method": "POST",
            "path": "/api/x",
            "raw_path": b"/api/x",
            "query_string": b"a=1",
            "headers": headers,
            "client": ("198.51.100.7", 5000),
            "scheme": "http",
            **scope,
        },
        max_body_bytes=100,
        host_allowed=lambda host: host == b"shop.example",
        trusted=TrustedProxies([]),
    )


def refusal(headers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    with pytest.raises(GatewayRefusal) as caught:
        inspect(headers)
    return caught.value.status, caught.value.code


HOST = (b"host", b"shop.example")


def test_the_backend_sees_the_target_and_rebuilt_forwarding_headers() -> None:
    request = inspect(
        [HOST, (b"x-forwarded-for", b"6.6.6.6"), (b"content-length", b"3"), (b"accept", b"*/*")]
    )
    headers = dict(request.headers)
    assert request.target == b"/api/x?a=1" and request.content_length == 3 and request.has_body
    assert headers[b"x-forwarded-for"] == b"198.51.100.7"
    assert headers[b"x-forwarded-host"] == b"shop.example"
    assert headers[b"accept"] == b"*/*"
    assert b"content-length" not in headers and b"host" not in headers  # set per hop


def test_headers_named_in_connection_are_not_passed_on() -> None:
    request = inspect([HOST, (b"connection", b"x-private"), (b"x-private", b"1")])
    assert b"x-private" not in dict(request.headers)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([HOST, HOST], (400, "bad_request")),
        ([HOST, (b"content-length", b"-1")], (400, "bad_request")),
        ([HOST, (b"content-length", b"101")], (413, "too_large")),
        ([HOST, (b"transfer-encoding", b"gzip, chunked")], (501, "not_implemented")),
        ([HOST, (b"transfer-encoding", b"chunked, gzip")], (400, "bad_request")),
        ([(b"host", b"evil.example")], (421, "unknown_host")),
        ([], (421, "unknown_host")),
    ],
)
def test_what_the_gateway_refuses_itself(
    headers: list[tuple[bytes, bytes]], expected: tuple[int, str]
) -> None:
    assert refusal(headers) == expected
