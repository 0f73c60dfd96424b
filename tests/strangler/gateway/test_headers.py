"""Header hygiene: hop-by-hop removal, forwarding headers from the trusted hop, trace ids."""

from __future__ import annotations

import re

import pytest

from strangler.gateway import headers
from strangler.gateway.client import framing, parse_head
from strangler.gateway.headers import (
    TrustedProxies,
    client_fields,
    correlation_id,
    host_allowed,
    next_traceparent,
    relayable_head,
    resolve_forwarding,
    strip_hop_by_hop,
)


def test_hop_by_hop_headers_and_those_named_in_connection_are_removed() -> None:
    headers = [
        (b"connection", b"keep-alive, X-Secret"),
        (b"keep-alive", b"timeout=5"),
        (b"x-secret", b"1"),
        (b"transfer-encoding", b"chunked"),
        (b"upgrade", b"h2c"),
        (b"te", b"trailers"),
        (b"proxy-authorization", b"Basic x"),
        (b"accept", b"*/*"),
    ]
    assert strip_hop_by_hop(headers) == [(b"accept", b"*/*")]


def forwarding(peer: str, incoming_for: str | None, trusted: list[str]):
    return resolve_forwarding(
        peer=peer,
        scheme="http",
        host="shop.example",
        incoming_for=incoming_for,
        incoming_proto="https",
        incoming_host="evil.example",
        trusted=TrustedProxies(trusted),
    )


def test_an_untrusted_clients_forwarding_headers_are_replaced() -> None:
    result = forwarding("198.51.100.7", "1.2.3.4", [])
    assert result.client == "198.51.100.7"
    assert result.forwarded_for == "198.51.100.7"
    assert (result.proto, result.host) == ("http", "shop.example")


def test_behind_trusted_proxies_the_client_is_the_first_untrusted_hop_and_spoofs_are_cut() -> None:
    # 6.6.6.6 was written by the client itself: only hops our proxies vouch for are passed on.
    result = forwarding("10.0.0.5", "6.6.6.6, 203.0.113.9, 10.0.0.4", ["10.0.0.0/8"])
    assert result.client == "203.0.113.9"
    assert result.forwarded_for == "203.0.113.9, 10.0.0.4, 10.0.0.5"
    assert (result.proto, result.host) == ("https", "evil.example")


def test_correlation_id_is_kept_when_sane_and_replaced_otherwise() -> None:
    assert correlation_id(b"req-123") == b"req-123"
    assert re.fullmatch(rb"[0-9a-f]{32}", correlation_id(b"bad id\r\nx: y"))
    assert re.fullmatch(rb"[0-9a-f]{32}", correlation_id(None))


def test_traceparent_keeps_the_trace_and_starts_a_new_span() -> None:
    incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    outgoing = next_traceparent(incoming)
    assert outgoing.startswith(b"00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert outgoing.endswith(b"-01") and b"00f067aa0ba902b7" not in outgoing
    fresh = next_traceparent(b"garbage")
    assert re.fullmatch(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-01", fresh)


def test_hosts_match_like_django_allowed_hosts() -> None:
    allowed = ("127.0.0.1", ".shop.example")
    assert host_allowed("127.0.0.1:8080", allowed)
    assert host_allowed("api.shop.example", allowed)
    assert host_allowed("shop.example", allowed)
    assert not host_allowed("evil.example", allowed)
    assert not host_allowed("shop.example.evil.example", allowed)
    assert host_allowed("anything", ("*",))


_GUNICORN = (
    b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: Sun, 06 Dec 2026 19:36:53 GMT\r\n"
    b"Connection: keep-alive\r\nContent-Type: application/json\r\nVary: Accept, Cookie\r\n"
    b"Content-Length: 335\r\nX-Correlation-ID: abc\r\n\r\n"
)


@pytest.mark.parametrize(
    "head",
    [
        _GUNICORN,
        _GUNICORN.replace(b"keep-alive", b"close"),
        _GUNICORN.replace(b"HTTP/1.1", b"HTTP/1.0"),
        _GUNICORN.replace(b"HTTP/1.1", b"HTTP/1.0").replace(b"Connection: keep-alive\r\n", b""),
        _GUNICORN.replace(b"Server: gunicorn", b"Server: \t padded"),
        _GUNICORN.replace(b"Server: gunicorn", b"Keep-Alive: timeout=5\r\nTE: trailers"),
        b"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=[
        "gunicorn",
        "close",
        "http-1.0-keep-alive",
        "http-1.0",
        "padded",
        "hop-by-hop",
        "204",
        "404",
    ],
)
def test_a_relayable_head_gives_what_the_general_path_gives(head: bytes) -> None:
    first = relayable_head(head, "GET")
    assert relayable_head(head, "GET") == first  # the second time from the line cache
    status, fields, length, keep_alive = first  # type: ignore[misc]
    general_status, headers, version_11 = parse_head(head)
    general_length, chunked, general_alive = framing("GET", general_status, headers, version_11)
    kept = client_fields(headers)
    assert (status, length, keep_alive) == (general_status, general_length, general_alive)
    assert b"".join(fields) == b"".join(b"%s: %s\r\n" % pair for pair in kept)
    assert not chunked


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n",  # framed by the connection's end
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX/Y: 1\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: b \t\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/2 200\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=[
        "interim",
        "chunked",
        "until-close",
        "two-lengths",
        "bad-length",
        "204-with-length",
        "connection-names-a-field",
        "slash-in-name",
        "control-in-value",
        "folded",
        "trailing-whitespace",
        "http-2",
    ],
)
def test_anything_else_takes_the_general_path(head: bytes) -> None:
    assert relayable_head(head, "GET") is None


def test_the_line_cache_keeps_short_repeating_lines_and_starts_again_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache: dict[bytes, bytes] = {}
    monkeypatch.setattr(headers, "_RELAYED", cache)
    long_line = b"X-Long: " + b"a" * 300
    head = (
        b"HTTP/1.1 200 OK\r\nServer: x\r\nDate: Sun, 06 Dec 2026 23:38:55 GMT\r\n"
        b"Connection: keep-alive\r\nX-Correlation-ID: c1\r\n" + long_line + b"\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    monkeypatch.setattr(headers, "_RELAYED_MAX", 4)
    first = relayable_head(head, "GET")
    # Repeating lines are kept, `Connection: keep-alive` too (in HTTP/1.1 it says what is
    # implied); an id, a long line and the framing fields are checked each time.
    assert set(cache) == {
        b"Server: x",
        b"Date: Sun, 06 Dec 2026 23:38:55 GMT",
        b"Connection: keep-alive",
    }
    assert relayable_head(head, "GET") == first  # from the cache: the same answer
    # An HTTP/1.0 answer checks every line: its keep-alive is not what the cache says of 1.1.
    assert relayable_head(head.replace(b"HTTP/1.1", b"HTTP/1.0"), "GET")[3] is True  # type: ignore[index]
    assert (
        relayable_head(
            head.replace(b"HTTP/1.1", b"HTTP/1.0").replace(b"Connection: keep-alive\r\n", b""),
            "GET",
        )[3]
        is False
    )  # type: ignore[index]
    relayable_head(b"HTTP/1.1 204 No Content\r\nA: 1\r\nB: 2\r\nKeep-Alive: 5\r\n\r\n", "GET")
    assert set(cache) == {b"B: 2", b"Keep-Alive: 5"}  # full at four: it started again
    assert relayable_head(head, "GET") == first


def test_the_backends_correlation_id_is_not_relayed() -> None:
    # The gateway adds the request's own: one X-Correlation-ID per answer, on either path.
    _, fields, _, _ = relayable_head(_GUNICORN, "GET")  # type: ignore[misc]
    assert b"x-correlation-id" not in b"".join(fields)
    assert client_fields([(b"x-correlation-id", b"abc"), (b"vary", b"Cookie")]) == [
        (b"vary", b"Cookie")
    ]


def test_a_head_request_has_no_body_to_read() -> None:
    assert relayable_head(_GUNICORN, "HEAD")[2] == 0  # type: ignore[index]
