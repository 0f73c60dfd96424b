"""Header hygiene: hop-by-hop removal, forwarding headers from the trusted hop, trace ids."""

from __future__ import annotations

import re

from strangler.gateway.headers import (
    TrustedProxies,
    correlation_id,
    host_allowed,
    next_traceparent,
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
