"""Header hygiene: hop-by-hop removal, X-Forwarded-* from the trusted hop, trace ids."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from random import getrandbits
from typing import NamedTuple

from strangler.observability.tracing import active_traceparent

Headers = list[tuple[bytes, bytes]]

# RFC 9110 7.6.1 plus the legacy names every proxy strips.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
# Set by the gateway itself from what it knows, never copied from an untrusted client.
FORWARDING = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded", b"x-real-ip"}
)
CORRELATION_HEADER = b"x-correlation-id"
TRACEPARENT = b"traceparent"
_CORRELATION_OK = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_TRACEPARENT_OK = re.compile(rb"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Header names listed in Connection (they are hop-by-hop for this message only)."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(tokens)


def client_fields(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """A backend's answer fields as the client gets them, before the gateway's correlation id:
    no hop-by-hop field and no X-Correlation-ID of the backend's (one id per answer)."""
    return [(n, v) for n, v in strip_hop_by_hop(headers) if n != CORRELATION_HEADER]


def strip_hop_by_hop(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """Headers without hop-by-hop ones and without those the Connection header names."""
    headers = headers if isinstance(headers, list) else list(headers)
    kept = [(n, v) for n, v in headers if n not in HOP_BY_HOP]
    if len(kept) == len(headers):
        return kept  # no Connection field, so none that it names either
    named = connection_tokens(headers)
    return [(n, v) for n, v in kept if n not in named] if named else kept


# A backend's answer head as the express lane relays it (ADR 0014): a status line and fields
# whose names are tokens and whose values hold no control character but tab (obs-text allowed)
# and do not end in whitespace. uvicorn's checks let these through; the few heads they allow and
# these patterns do not (a name with `/`, a byte over 0x7f in a name, a value with trailing
# whitespace) take the general path instead.
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([2-5][0-9][0-9])(?: [^\x00-\x08\x0a-\x1f\x7f]*)?\r\n")
_FIELD_LINE = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?)"
)
# Not relayed as they come: framing, hop-by-hop, and the correlation id (the gateway adds its own).
_RELAY_SPECIAL = HOP_BY_HOP | {b"content-length", CORRELATION_HEADER}
_CONNECTION_OPTIONS = frozenset({b"", b"close", b"keep-alive"})
_NO_BODY_STATUSES = frozenset({204, 304})
# A backend repeats most of its lines answer after answer (Server, Content-Type, Vary, even Date
# for a second): each checked line is kept with what the client gets of it. Lines that are new in
# every answer (an id, a cookie) are not kept, nor long ones; when the cache is full it starts
# again, so it holds at most _RELAYED_MAX lines of at most _RELAYED_LINE_MAX bytes.
_RELAYED: dict[bytes, bytes] = {}
_RELAYED_MAX = 1024
_RELAYED_LINE_MAX = 256
_VARYING = frozenset(
    {
        b"etag",
        b"set-cookie",
        b"location",
        b"x-correlation-id",
        b"x-request-id",
        b"traceparent",
    }
)

RelayableHead = tuple[int, list[bytes], int, bool]


def _remember(line: bytes, relayed: bytes) -> None:
    if len(_RELAYED) >= _RELAYED_MAX:
        _RELAYED.clear()
    _RELAYED[line] = relayed


def relayable_head(head: bytes, method: str) -> RelayableHead | None:
    """A plain answer head checked and turned, in one pass, into what the client gets.

    Returns the status, the client's fields as lines for one `join` (names lowercased,
    hop-by-hop fields and the backend's X-Correlation-ID out, in the backend's order: what
    `client_fields` and uvicorn's checks make of them), the body's length and whether the
    backend's connection stays open. None for anything else, which the general path
    (`parse_head`, `framing`, `client_fields`) serves: an interim or chunked answer, a body
    framed by no or by conflicting Content-Length (a 204 or 304 by none), a Connection field
    naming other fields, or a line these patterns refuse.
    """
    status_line = _STATUS_LINE.match(head)
    if status_line is None:
        return None
    status = int(status_line.group(2))
    version_11 = status_line.group(1) == b"1"
    start = status_line.end()
    lines = head[start:-4].split(b"\r\n") if start < len(head) - 2 else []
    # Every line the cache knows in one pass of C; only the others (Content-Length, the
    # correlation id...) are checked here, and their place in `fields` filled in. The cache
    # holds lines that mean the same in every HTTP/1.1 answer, `Connection: keep-alive` among
    # them (dropped: it says what 1.1 implies); an HTTP/1.0 answer checks each of its lines.
    fields: list[bytes | None] = (
        list(map(_RELAYED.get, lines)) if version_11 else [None] * len(lines)
    )
    length: bytes | None = None
    connection = b""
    at = -1
    for _ in range(fields.count(None)):
        at = fields.index(None, at + 1)
        line = lines[at]
        field = _FIELD_LINE.fullmatch(line)
        if field is None:
            return None
        name, value = field.groups()
        name = name.lower()
        if name not in _RELAY_SPECIAL:
            relayed = b"%s: %s\r\n" % (name, value)
            if name not in _VARYING and len(line) <= _RELAYED_LINE_MAX:
                _remember(line, relayed)
            fields[at] = relayed
        elif name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = value
            fields[at] = b"content-length: " + value + b"\r\n"
        elif name == b"transfer-encoding":
            return None
        else:  # hop-by-hop or the backend's correlation id: not relayed
            fields[at] = b""
            if name == b"connection":
                token = value.lower()
                connection += b"," + token
                if token == b"keep-alive" and version_11 and len(line) <= _RELAYED_LINE_MAX:
                    _remember(line, b"")
            elif name != CORRELATION_HEADER and len(line) <= _RELAYED_LINE_MAX:
                _remember(line, b"")  # Keep-Alive, Upgrade...: dropped whatever they say
    if (length is None) is (status not in _NO_BODY_STATUSES):
        return None  # a body framed by the connection's end, or a bodiless answer with a length
    if not connection:
        keep_alive = version_11
    elif connection == b",keep-alive" or connection == b",close":  # what most backends send
        keep_alive = connection == b",keep-alive"
    else:
        tokens = {token.strip(b" \t") for token in connection.split(b",")}
        if not tokens <= _CONNECTION_OPTIONS:
            return None  # it names fields that are hop-by-hop for this answer only
        keep_alive = (b"close" not in tokens) if version_11 else (b"keep-alive" in tokens)
    relayed_fields: list[bytes] = fields  # type: ignore[assignment]  # no None is left
    return (
        status,
        relayed_fields,
        0 if length is None or method == "HEAD" else int(length),
        keep_alive,
    )


class TrustedProxies:
    """The networks whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str) -> bool:
        if not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)


class Forwarding(NamedTuple):
    """What the gateway tells the backend about the original request.

    A NamedTuple rather than a frozen dataclass: built once per request, and a frozen
    dataclass's `__init__` sets each field through `object.__setattr__` (ADR 0014).
    """

    client: str
    forwarded_for: str
    proto: str
    host: str


def resolve_forwarding(
    *,
    peer: str,
    scheme: str,
    host: str,
    incoming_for: str | None,
    incoming_proto: str | None,
    incoming_host: str | None,
    trusted: TrustedProxies,
) -> Forwarding:
    """Rebuild X-Forwarded-* from the hop we trust; a client's own values are never passed on."""
    if not trusted or not trusted.trusts(peer):
        return Forwarding(client=peer, forwarded_for=peer, proto=scheme, host=host)
    chain = [a.strip() for a in (incoming_for or "").split(",") if a.strip()]
    # Walk from the nearest hop outwards; the first address we do not trust is the client.
    client = peer
    kept: list[str] = []
    for address in reversed(chain):
        kept.insert(0, address)
        client = address
        if not trusted.trusts(address):
            break
    forwarded_for = ", ".join([*kept, peer])
    return Forwarding(
        client=client,
        forwarded_for=forwarded_for,
        proto=(incoming_proto or scheme).split(",")[0].strip() or scheme,
        host=(incoming_host or host).split(",")[0].strip() or host,
    )


def correlation_id(incoming: bytes | None) -> bytes:
    """The client's correlation id when it is sane, else a new one (128 random bits in hex).

    Correlation and trace ids are identifiers, not secrets: like OpenTelemetry's id generator,
    the gateway draws them from `random`, a tenth of the cost of `uuid4` (ADR 0014).
    """
    if incoming and _CORRELATION_OK.match(incoming):
        return incoming
    return b"%032x" % getrandbits(128)


def next_traceparent(incoming: bytes | None) -> bytes:
    """W3C traceparent for the proxied hop: same trace id, a new parent (span) id.

    With tracing on, the parent is the gateway's own request span (OpenTelemetry's ASGI
    middleware continued the client's trace), so the hop shows in the trace.
    """
    own = active_traceparent()
    if own is not None:
        return own.encode()
    span = getrandbits(64) or 1  # an all-zero span id is invalid
    if incoming:
        match = _TRACEPARENT_OK.match(incoming)
        if match and match.group(1) != b"ff" and set(match.group(2)) != {ord("0")}:
            return b"00-%s-%016x-%s" % (match.group(2), span, match.group(4))
    return b"00-%032x-%016x-01" % (getrandbits(128) or 1, span)


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Django-style host matching: exact, '.domain' for subdomains, or '*'."""
    name = host.lower()
    if name.startswith("["):
        name = name.split("]", 1)[0] + "]"
    else:
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    for pattern in allowed:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:]):
            return True
    return False
