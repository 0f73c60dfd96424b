"""Request inspection: the client's request head checked and turned into what a backend sees.

A pure function of the ASGI scope and the settings (the host check is passed in): it refuses
ambiguous framing, a second Host, unsupported transfer codings, announced bodies over the limit
and hosts the gateway does not serve, and rebuilds the forwarding, correlation and trace headers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from strangler.gateway.headers import (
    CORRELATION_HEADER,
    FORWARDING,
    HOP_BY_HOP,
    TRACEPARENT,
    TrustedProxies,
    correlation_id,
    next_traceparent,
    resolve_forwarding,
    strip_hop_by_hop,
)

Scope = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

_OWS = b" \t"
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 5.6.2
# Request headers the gateway sets itself; copying the client's would defeat the point.
# Expect is answered by the ASGI server; the backend gets the body straight away.
_REPLACED = (
    HOP_BY_HOP
    | FORWARDING
    | {
        b"host",
        b"content-length",
        b"expect",
        CORRELATION_HEADER,
        TRACEPARENT,
    }
)


class GatewayRefusal(Exception):
    """The gateway answers the client itself with this status (400, 404, 408, 413, 421, 501,
    502, 503, 504); `close` ends the connection (a request body may be left unread)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.close = close


class ProxiedRequest:
    """What the gateway keeps of the client's request while proxying it."""

    __slots__ = (
        "client",
        "content_length",
        "cookie",
        "correlation_id",
        "has_body",
        "headers",
        "host",
        "method",
        "target",
    )

    def __init__(
        self,
        *,
        method: str,
        target: bytes,
        host: bytes,
        headers: Headers,
        content_length: int | None,
        has_body: bool,
        client: str,
        cookie: bytes,
        correlation_id: bytes,
    ) -> None:
        self.method = method
        self.target = target
        self.host = host
        self.headers = headers
        self.content_length = content_length
        self.has_body = has_body
        self.client = client
        self.cookie = cookie
        self.correlation_id = correlation_id


def path_bytes(path: str) -> bytes:
    from urllib.parse import quote

    return quote(path, safe="/:@!$&'()*+,;=-._~%").encode("ascii")


def inspect_request(
    scope: Scope,
    *,
    max_body_bytes: int,
    host_allowed: Callable[[bytes], bool],
    trusted: TrustedProxies | None,
) -> ProxiedRequest:
    """Validate the request head and build the headers the backend will see.

    `trusted`: the proxies whose X-Forwarded-* are believed; None when there are none.
    Raises GatewayRefusal for what the gateway answers itself: 400 (framing, two Hosts), 413
    (an announced body over `max_body_bytes`), 421 (a host it does not serve), 501 (a transfer
    coding other than chunked).
    """
    method: str = scope["method"]
    host: bytes | None = None
    codings: list[bytes] = []
    content_length: int | None = None
    chunked = False
    incoming_for = incoming_proto = incoming_host = None
    incoming_correlation = incoming_trace = None
    cookie = b""
    has_connection = False
    outbound: Headers = []
    for name, value in scope["headers"]:
        if name not in _REPLACED:
            outbound.append((name, value))
            if name == b"cookie":
                cookie = value
            continue
        if name == b"host":
            if host is not None:  # RFC 9112 3.2: more than one Host is a 400
                raise GatewayRefusal(400, "bad_request", "More than one Host.", close=True)
            host = value
        elif name == b"content-length":
            if not value.isdigit() or (content_length is not None and int(value) != content_length):
                raise GatewayRefusal(400, "bad_request", "Invalid Content-Length.", close=True)
            content_length = int(value)
        elif name == b"transfer-encoding":
            codings += [c.strip(_OWS).lower() for c in value.split(b",")]
            chunked = True
        elif name == b"x-forwarded-for":
            incoming_for = (
                value.decode("latin-1")
                if incoming_for is None
                else f"{incoming_for},{value.decode('latin-1')}"
            )
        elif name == b"x-forwarded-proto":
            incoming_proto = value.decode("latin-1")
        elif name == b"x-forwarded-host":
            incoming_host = value.decode("latin-1")
        elif name == CORRELATION_HEADER:
            incoming_correlation = value
        elif name == TRACEPARENT:
            incoming_trace = value
        elif name == b"connection":
            has_connection = True
            outbound.append((name, value))  # removed below with the names it lists
    if chunked:
        check_codings(codings)
    if chunked and content_length is not None:
        # RFC 9112 6.1: both at once is how request smuggling starts; refuse it outright.
        raise GatewayRefusal(
            400, "bad_request", "Transfer-Encoding with Content-Length.", close=True
        )
    if content_length is not None and content_length > max_body_bytes:
        raise GatewayRefusal(413, "too_large", f"Body over {max_body_bytes} bytes.", close=True)
    host = host or b""
    allowed = host_allowed(host)
    if not allowed:
        raise GatewayRefusal(
            421,
            "unknown_host",
            "This gateway does not serve that host.",
            close=chunked or bool(content_length),
        )
    if has_connection:
        outbound = strip_hop_by_hop(outbound)
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    scheme = scope.get("scheme", "http")
    if trusted:
        forwarding = resolve_forwarding(
            peer=peer,
            scheme=scheme,
            host=host.decode("latin-1"),
            incoming_for=incoming_for,
            incoming_proto=incoming_proto,
            incoming_host=incoming_host,
            trusted=trusted,
        )
        client_address = forwarding.client
        forwarded_for = forwarding.forwarded_for.encode("latin-1")
        forwarded_proto = forwarding.proto.encode("latin-1")
        forwarded_host = forwarding.host.encode("latin-1")
    else:  # no proxy is trusted: the peer is the client, whatever the request says of itself
        client_address = peer
        forwarded_for, forwarded_proto, forwarded_host = peer.encode(), scheme.encode(), host
    cid = correlation_id(incoming_correlation)
    outbound += [
        (b"x-forwarded-for", forwarded_for),
        (b"x-forwarded-proto", forwarded_proto),
        (b"x-forwarded-host", forwarded_host),
        (CORRELATION_HEADER, cid),
        (TRACEPARENT, next_traceparent(incoming_trace)),
    ]
    raw_path = scope.get("raw_path") or path_bytes(scope["path"])
    query = scope.get("query_string") or b""
    return ProxiedRequest(
        method=method,
        target=raw_path + b"?" + query if query else raw_path,
        host=host,
        headers=outbound,
        content_length=content_length,
        has_body=chunked or bool(content_length),
        client=client_address,
        cookie=cookie,
        correlation_id=cid,
    )


def check_codings(codings: list[bytes]) -> None:
    """Only `chunked`, once and last, is decoded. Another coding before it (`gzip, chunked`) is
    a 501 (RFC 9112 6.1); a list that does not end in one chunked is a 400 (RFC 9112 6.3)."""
    if codings == [b"chunked"]:
        return
    if (
        not all(_TOKEN.fullmatch(c) for c in codings)
        or codings[-1] != b"chunked"
        or codings.count(b"chunked") > 1
    ):
        raise GatewayRefusal(400, "bad_request", "Invalid Transfer-Encoding.", close=True)
    raise GatewayRefusal(
        501, "not_implemented", "Only the chunked transfer coding is supported.", close=True
    )
