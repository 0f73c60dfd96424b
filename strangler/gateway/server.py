"""The gateway's HTTP/1.1 connection: uvicorn's httptools protocol with a careful proxy's limits.

What an ASGI app cannot see happens here, before a request reaches it: the size of the request
line, of each header line and of the whole head (431, like Envoy's `max_request_headers_kb` and
nginx's `large_client_header_buffers`), how long a client may take to send a head (408, nginx's
`client_header_timeout`), how many connections are open at once, trailers (dropped, never merged
into the request's headers) and the authority of an absolute-form target (it replaces Host, as
RFC 9112 3.2.2 says, so the app checks it like any Host). Everything else (Host allowed or not,
transfer codings, body size and body timeout) the app decides itself, under any ASGI server.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn._compat import asyncio_run
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from strangler.gateway.conf import GatewaySettings, parse_listen

logger = logging.getLogger(__name__)

# How long a refused connection keeps reading (and dropping) before it closes.
LINGER_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The per-connection bounds the protocol enforces (STRANGLER_GATEWAY, see conf.py)."""

    max_request_line_bytes: int = 8 * 1024
    max_header_line_bytes: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> ConnectionLimits:
        return cls(
            max_request_line_bytes=settings.max_request_line_bytes,
            max_header_line_bytes=settings.max_header_line_bytes,
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout=settings.header_timeout,
            max_connections=settings.max_connections,
        )


class HeadRefused(Exception):
    """The request head broke a limit; the connection answers `status` and closes."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on the head, a head timeout and a connection cap.

    `rungateway` serves with `protocol_class(limits)`; for `uvicorn --http
    strangler.gateway.server:GatewayHttpProtocol` the limits are read from the settings.
    """

    limits: ClassVar[ConnectionLimits | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.limits is None:
            from strangler.gateway.conf import gateway_settings

            cls.limits = ConnectionLimits.from_settings(gateway_settings())
        self._limits: ConnectionLimits = cls.limits
        self._in_head = True  # waiting for (or reading) a request head
        self._head_bytes = 0
        self._head_tail = b""
        self._head_done = False  # the current request's head is parsed: later fields are trailers
        self._header_count = 0
        self._refusal: HeadRefused | None = None
        self._head_timer: Any = None
        self._lingering = False

    # -- connection ----------------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            logger.warning("connection refused: %d open", len(self.connections) - 1)
            self._answer(
                503, "too_many_connections", "The gateway has too many connections.", linger=False
            )
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self._limits.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; the timer starts again when it is done
        if self._head_bytes:
            self._answer(408, "header_timeout", "The request head did not arrive in time.")
        else:
            self.transport.close()  # an idle connection: nothing to answer

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # An idle connection is uvicorn's keep-alive timer's to close; the head timer runs only
        # once a head has begun (here: a pipelined one that came while this answer was sent).
        if not self.transport.is_closing() and self._in_head and self._head_bytes:
            self._arm_head_timer()

    # -- bytes in ------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # after a refusal: what the client still sends is dropped
        self._unset_keepalive_if_required()
        if self._in_head:
            # Count the head's bytes before parsing them: a head that never ends is refused
            # once it passes the limit, however slowly or in however many pieces it comes.
            window = self._head_tail + data
            end = window.find(b"\r\n\r\n")
            if end < 0:
                self._head_bytes += len(data)
                self._head_tail = window[-3:]
                if self._head_timer is None:
                    # A head in pieces: from its first piece it has HEADER_TIMEOUT to end. A
                    # head that comes whole (the common case) arms no timer at all (ADR 0014).
                    self._arm_head_timer()
            else:
                self._head_bytes += max(0, end + 4 - len(self._head_tail))
                self._head_tail = b""
            if self._head_bytes > self._limits.max_header_bytes:
                self._refuse(
                    HeadRefused(
                        431,
                        "headers_too_large",
                        f"The request head is over {self._limits.max_header_bytes} bytes.",
                    )
                )
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            refusal = self._refusal or HeadRefused(
                400, "bad_request", "Invalid HTTP request received."
            )
            logger.info("request refused: %s (%s)", refusal.message, exc)
            self._refuse(refusal)

    def _refuse(self, refusal: HeadRefused) -> None:
        self._refusal = None
        self._answer(refusal.status, refusal.code, refusal.message)

    def _answer(self, status: int, code: str, message: str, *, linger: bool = True) -> None:
        """Answer with the gateway's error shape and close: the stream cannot be trusted now."""
        self._disarm_head_timer()
        if self.transport.is_closing() or self._lingering:
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # mid-response: no second status line
            return
        body = json.dumps({"error": {"code": code, "message": message, "fields": {}}}).encode()
        head = [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join([*head, body]))
        # A lingering close, as nginx does: send FIN after the answer and read (and drop) what
        # the client still sends for a moment. Closing with unread bytes would reset the
        # connection, and the client could lose the answer.
        self._lingering = True
        if linger and self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    # -- parser callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_done = False
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self._limits.max_request_line_bytes:
            self._refusal = HeadRefused(
                414,
                "uri_too_long",
                f"The request target is over {self._limits.max_request_line_bytes} bytes.",
            )
            raise self._refusal

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._head_done:
            return  # a trailer field: never merged into the headers the app has already seen
        self._header_count += 1
        if self._header_count > self._limits.max_headers:
            self._refusal = HeadRefused(
                431, "too_many_headers", f"More than {self._limits.max_headers} header fields."
            )
            raise self._refusal
        if len(name) + len(value) > self._limits.max_header_line_bytes:
            self._refusal = HeadRefused(
                431,
                "header_too_large",
                f"A header field is over {self._limits.max_header_line_bytes} bytes.",
            )
            raise self._refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._in_head = False
        self._head_done = True
        if self.url[:1] not in (b"/", b"*"):
            self._take_authority_from_target()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what comes next on this connection is another head
        self._head_bytes = 0
        self._head_tail = b""

    def _take_authority_from_target(self) -> None:
        """Absolute-form (`GET http://host/path`): the target's authority is the Host."""
        try:
            parsed = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            self._refusal = HeadRefused(400, "bad_request", "The request target is not a URL.")
            raise self._refusal from None
        if not parsed.host or parsed.userinfo or parsed.schema not in (b"http", b"https"):
            self._refusal = HeadRefused(
                400, "bad_request", "An absolute request target must be http(s)://host/path."
            )
            raise self._refusal
        authority = parsed.host if parsed.port is None else b"%s:%d" % (parsed.host, parsed.port)
        hosts = [i for i, (name, _) in enumerate(self.headers) if name == b"host"]
        if not hosts:
            self.headers.append((b"host", authority))
        for index in hosts:  # two Host fields stay two: the app refuses that with 400
            self.headers[index] = (b"host", authority)


def protocol_class(limits: ConnectionLimits) -> type[GatewayHttpProtocol]:
    """The protocol class uvicorn builds per connection, bound to these limits."""
    return type("BoundGatewayHttpProtocol", (GatewayHttpProtocol,), {"limits": limits})


class _Listener(uvicorn.Server):
    """A second uvicorn server in the same loop; the main server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_gateway(
    app: Any,
    admin_app: Any,
    settings: GatewaySettings,
    *,
    host: str,
    port: int,
    access_log: bool = False,
    log_level: str = "info",
) -> bool:
    """Serve the gateway (and its admin listener when ADMIN_LISTEN is set) until a signal.

    What uvicorn can bound itself it does (keep-alive idle time, graceful shutdown); the head
    limits, the head timeout and the connection cap are GatewayHttpProtocol's. Returns whether
    the server started.
    """
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    common: dict[str, Any] = {
        "loop": loop,
        "http": protocol_class(ConnectionLimits.from_settings(settings)),
        # The gateway rebuilds X-Forwarded-* itself from TRUSTED_PROXIES; uvicorn must not
        # rewrite the client address from a header anyone can send.
        "proxy_headers": False,
        "server_header": False,
        "date_header": False,
        "timeout_keep_alive": settings.keepalive_timeout,
        "log_level": log_level,
        "ws": "none",
    }
    main = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=access_log, **common)
    )
    admin: uvicorn.Server | None = None
    if settings.admin_listen:
        admin_host, admin_port = parse_listen(settings.admin_listen)
        admin = _Listener(
            uvicorn.Config(
                admin_app,
                host=admin_host,
                port=admin_port,
                lifespan="off",
                access_log=False,
                **common,
            )
        )

    async def serve_all() -> None:
        admin_task = asyncio.create_task(admin.serve()) if admin is not None else None
        try:
            await main.serve()
        finally:
            if admin is not None and admin_task is not None:
                admin.should_exit = True
                await admin_task

    asyncio_run(serve_all(), loop_factory=main.config.get_loop_factory())
    return bool(main.started)
