"""The gateway's HTTP/1.1 connection: uvicorn's httptools protocol with a careful proxy's limits.

What an ASGI app cannot see happens here, before a request reaches it: the size of the request
line, of each header line and of the whole head (431, like Envoy's `max_request_headers_kb` and
nginx's `large_client_header_buffers`), how long a client may take to send a head (408, nginx's
`client_header_timeout`), how many connections are open at once, trailers (dropped, never merged
into the request's headers) and the authority of an absolute-form target (it replaces Host, as
RFC 9112 3.2.2 says, so the app checks it like any Host). Everything else (Host allowed or not,
transfer codings, body size and body timeout) the app decides itself, under any ASGI server.

A plain request to the gateway (a head and a body that came whole with it, not one of the
gateway's own paths, no `Expect: 100-continue`, no upgrade) skips uvicorn's request cycle: the
protocol calls the gateway with a small scope and a `_DirectCycle`, whose `send` writes the
status line, the fields and the body in one call (ADR 0014). The gateway's code, its limits and
its answers are the same on both paths; anything else is served by uvicorn's cycle as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib.util
import json
import logging
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn._compat import asyncio_run
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
)

from strangler.gateway.admin_api import is_gateway_path
from strangler.gateway.conf import GatewaySettings, parse_listen

logger = logging.getLogger(__name__)

# How long a refused connection keeps reading (and dropping) before it closes.
LINGER_SECONDS = 2.0
_ASGI = {"version": "3.0", "spec_version": "2.3"}
# Response fields uvicorn's cycle looks at (the others it writes as they are).
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})


# A plain request head (GatewayHttpProtocol._plain_head): GET or HEAD, an origin-form target
# of visible ASCII without a fragment, HTTP/1.1, fields whose names are tokens and whose values
# hold no control character but tab. Stricter than the parser; what it refuses is parsed.
# Possessive quantifiers (`*+`): nothing here can match two ways, so the engine keeps no state
# to backtrack into. A field's value ends at its last character that is not whitespace (what a
# lazy `*?` would find by trying every position).
_PLAIN_REQUEST = re.compile(
    rb"(GET|HEAD) (/[!-\x22$-~]*+) HTTP/1\.1\r\n"
    rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]++:[^\x00-\x08\x0a-\x1f\x7f]*+\r\n)*+\r\n"
)
_METHODS = {b"GET": "GET", b"HEAD": "HEAD"}
_REQUEST_FIELD = re.compile(rb"([^:\r\n]+):[ \t]*((?:[^\r]*[^\r \t])?)[ \t]*\r\n")
# Fields that frame a body, ask for an interim answer or change the connection: parsed.
_NOT_PLAIN_FIELD = re.compile(
    rb"\r\n(?:content-length|transfer-encoding|expect|upgrade|connection|keep-alive)[ \t]*:"
)


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
        self._idle_from: float | None = None  # when the connection last became idle
        # The direct path (module docstring): the gateway itself, when uvicorn serves it bare
        # (no tracing middleware, no access log, no concurrency limit: those need the cycle).
        app = self.app
        self._direct_app: Any = (
            app
            if getattr(app, "serves_direct", False)
            and not self.access_log
            and self.limit_concurrency is None
            and not self.root_path
            else None
        )
        self._deferred = False  # a head taken for the direct path, its body not yet whole
        self._deferred_body: list[bytes] = []
        self._direct_scope: dict[str, Any] | None = None

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
        self._idle_from = None
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    # -- keep-alive: one timer per idle stretch, not one armed and cancelled per answer --------
    def _unset_keepalive_if_required(self) -> None:
        # Bytes came: the connection is not idle. A timer already set lapses when it fires.
        self._idle_from = None

    def _arm_keepalive(self) -> None:
        """The connection is idle from now: closed after KEEPALIVE_TIMEOUT, as uvicorn does."""
        loop = self.loop
        self._idle_from = now = loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = loop.call_at(
                now + self.timeout_keep_alive, self._keepalive_due
            )

    def _keepalive_due(self) -> None:
        self.timeout_keep_alive_task = None
        idle_from = self._idle_from
        if idle_from is None:
            return  # busy: the next answer's end sets the timer again
        due = idle_from + self.timeout_keep_alive
        if self.loop.time() + 0.001 >= due:  # timers may fire up to a clock tick early
            self._idle_from = None
            self.timeout_keep_alive_handler()
        else:  # idle again since a later answer: wait for that stretch's end
            self.timeout_keep_alive_task = self.loop.call_at(due, self._keepalive_due)

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
        # uvicorn's, with the keep-alive timer kept across answers (_arm_keepalive).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_from = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._arm_keepalive()
        # An idle connection is uvicorn's keep-alive timer's to close; the head timer runs only
        # once a head has begun (here: a pipelined one that came while this answer was sent).
        if not self.transport.is_closing() and self._in_head and self._head_bytes:
            self._arm_head_timer()

    # -- bytes in ------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # after a refusal: what the client still sends is dropped
        self._idle_from = None  # _unset_keepalive_if_required, inlined
        if self._in_head:
            if not self._head_bytes and self._direct_app is not None and self._plain_head(data):
                return
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
            if self._deferred:  # the body did not come whole with its head: uvicorn's cycle
                self._start_cycle()
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

    def _plain_head(self, data: bytes) -> bool:
        """Take a plain request that came whole in one read without the parser (ADR 0014).

        Plain: a GET or HEAD in origin form over HTTP/1.1 with no body, no framing, Expect,
        Upgrade or Connection field, within every limit, nothing after it, not one of the
        gateway's own paths, on a connection with no answer still being sent. Its scope and cycle
        are the ones the parser's callbacks would have made; anything else (False) is parsed.
        """
        limits = self._limits
        size = len(data)
        if size > limits.max_header_line_bytes or size > limits.max_header_bytes or self._pending():
            return False
        head = _PLAIN_REQUEST.fullmatch(data)
        if head is None or _NOT_PLAIN_FIELD.search(data.lower()) is not None:
            return False
        target = head.group(2)
        fields = _REQUEST_FIELD.findall(data, head.end(2) + len(b" HTTP/1.1\r\n"))
        if len(fields) > limits.max_headers or len(target) > limits.max_request_line_bytes:
            return False
        headers = [(name.lower(), value) for name, value in fields]
        # The pattern let through no `#`, space or control: the path and query are what
        # `httptools.parse_url` would make of the target (tests/strangler/gateway/test_direct_path).
        raw_path, _, query = target.partition(b"?")
        scope = self._direct_scope_for(raw_path, query, headers, _METHODS[head.group(1)], "1.1")
        if scope is None:
            return False  # one of the gateway's own paths: uvicorn's cycle serves it
        self.url, self.headers = target, headers
        if self._head_timer is not None:
            self._disarm_head_timer()
        self.expect_100_continue = False
        self.scope = scope  # type: ignore[assignment]
        self.cycle = cycle = _DirectCycle(self, scope, b"", keep_alive=True)  # type: ignore[assignment]
        self._start_asgi_task(cycle, self._direct_app)
        return True

    def _pending(self) -> bool:
        """An answer is still being sent on this connection (a request after it is queued)."""
        cycle = self.cycle
        return (cycle is not None and not cycle.response_complete) or bool(self.pipeline)

    def _refuse(self, refusal: HeadRefused) -> None:
        self._refusal = None
        self._answer(refusal.status, refusal.code, refusal.message)

    def _answer(self, status: int, code: str, message: str, *, linger: bool = True) -> None:
        """Answer with the gateway's error shape and close: the stream cannot be trusted now."""
        self._disarm_head_timer()
        if self.transport.is_closing() or self._lingering:
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
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
        # uvicorn's, without its scope: built in _start_cycle only for a request that needs it.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._head_done = False
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self.url += url  # uvicorn's on_url, inlined (ADR 0014: a super() call per callback)
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
        # uvicorn's on_header, inlined: llhttp keeps trailing OWS, which RFC 9110 5.5 excludes.
        name = name.lower()
        value = value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._in_head = False
        self._head_done = True
        if self.url[:1] not in (b"/", b"*"):
            self._take_authority_from_target()
        parser = self.parser
        if (
            self._direct_app is not None
            and not self.expect_100_continue
            and not parser.should_upgrade()
        ):
            parsed = httptools.parse_url(self.url)
            scope = self._direct_scope_for(
                parsed.path,
                parsed.query or b"",
                self.headers,
                parser.get_method().decode("ascii"),
                parser.get_http_version(),
            )
            if scope is not None:
                self._direct_scope = scope
                self._deferred = True
                self._deferred_body = []
                return  # dispatched when the message completes in this read, else _start_cycle
        self._start_cycle()

    def _direct_scope_for(
        self,
        raw_path: bytes,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        method: str,
        http_version: str,
    ) -> dict[str, Any] | None:
        """The scope uvicorn's cycle would give the request (the same path and query), or None
        for one of the gateway's own paths: uvicorn's cycle serves those."""
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        if is_gateway_path(path):
            return None
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": http_version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": "",
            "headers": headers,
            "method": method,
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
        }

    def _start_cycle(self) -> None:
        """uvicorn's request cycle for this request (and the body that came so far)."""
        self._direct_scope = None
        self.scope = {  # type: ignore[typeddict-item]
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        HttpToolsProtocol.on_headers_complete(self)
        if self._deferred:
            self._deferred = False
            body = b"".join(self._deferred_body)
            self._deferred_body = []
            if body and not self.cycle.response_complete:
                self.cycle.body += body
                if len(self.cycle.body) > HIGH_WATER_LIMIT:
                    self.flow.pause_reading()
                self.cycle.message_event.set()

    def on_body(self, body: bytes) -> None:
        if self._deferred:
            self._deferred_body.append(body)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._deferred:
            self._deferred = False
            self._dispatch_direct()
        else:
            super().on_message_complete()
        self._in_head = True  # what comes next on this connection is another head
        self._head_bytes = 0
        self._head_tail = b""

    def _dispatch_direct(self) -> None:
        """The whole request is here: the gateway answers it through a _DirectCycle."""
        scope = self._direct_scope
        assert scope is not None
        self._direct_scope = None
        self.scope = scope  # type: ignore[assignment]
        body = self._deferred_body
        self._deferred_body = []
        existing = self.cycle
        self.cycle = cycle = _DirectCycle(  # type: ignore[assignment]
            self,
            scope,
            body[0] if len(body) == 1 else b"".join(body),
            keep_alive=scope["http_version"] != "1.0" and self.parser.should_keep_alive(),
        )
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, self._direct_app)  # type: ignore[arg-type]
        else:  # pipelined behind an answer still being sent: queued, as uvicorn does
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, self._direct_app))  # type: ignore[arg-type]

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if type(cycle) is not _DirectCycle:
            super()._start_asgi_task(cycle, app)
            return
        if app.answer_direct(cycle):  # the express lane took it: no task (ADR 0014)
            return
        self.spawn(cycle, app)

    def spawn(self, cycle: _DirectCycle, app: Any) -> None:
        """Run `app` for this direct cycle in a task, as uvicorn runs its cycles."""
        if self.config.reset_contextvars:
            task = self.loop.create_task(cycle.run(app), context=contextvars.Context())
        else:
            task = self.loop.create_task(cycle.run(app))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

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


class _Unwatched:
    """A direct cycle's message event until its request waits for a disconnect."""

    __slots__ = ()

    def set(self) -> None:
        pass


_UNWATCHED = _Unwatched()


class _DirectCycle:
    """One request answered without uvicorn's RequestResponseCycle, with its semantics.

    The request's body is whole (`receive` gives it once, then waits for a disconnect); `send`
    checks and writes the head as uvicorn's cycle does, but keeps it until the first body
    message so that a short answer is one `transport.write`.
    """

    __slots__ = (
        "body",
        "chunked",
        "disconnected",
        "expected_content_length",
        "head",
        "keep_alive",
        "message_event",
        "more_body",
        "protocol",
        "response_complete",
        "response_started",
        "scope",
        "sent_body",
    )

    def __init__(
        self, protocol: GatewayHttpProtocol, scope: dict[str, Any], body: bytes, *, keep_alive: bool
    ) -> None:
        self.protocol = protocol
        self.scope = scope
        self.body = body
        self.more_body = False
        self.keep_alive = keep_alive
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.message_event: Any = _UNWATCHED
        self.sent_body = False
        self.head: bytes | None = None
        self.chunked = False
        self.expected_content_length = 0

    async def run(self, app: Any) -> None:
        """The app called as uvicorn's `run_asgi` calls it, with the same failure handling."""
        logger_ = self.protocol.logger
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            self.fail(exc)
        else:
            if result is not None:
                logger_.error("ASGI callable should return None, but returned '%s'.", result)
                self.protocol.transport.close()
            elif not self.response_started and not self.disconnected:
                logger_.error("ASGI callable returned without starting response.")
                self._send_500()
            elif not self.response_complete and not self.disconnected:
                logger_.error("ASGI callable returned without completing response.")
                self.protocol.transport.close()

    def fail(self, exc: BaseException) -> None:
        """The app failed: a 500 if nothing was sent yet, else the connection is cut."""
        self.protocol.logger.error("Exception in ASGI application\n", exc_info=exc)
        if not self.response_started:
            self._send_500()
        else:
            self.protocol.transport.close()

    def _send_500(self) -> None:
        self.answer(
            500,
            [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"21"),
                (b"connection", b"close"),
            ],
            b"Internal Server Error",
        )

    def answer(self, status: int, headers: Any, body: bytes) -> None:
        """A whole answer, head and body in one write, without a coroutine: what `send` does
        for a start message and one last body message (the express lane and the 500).

        It does not wait for the client to drain its buffer as `send` does: the body is one
        the gateway already holds (at most a short backend body, ADR 0014).
        """
        if self.disconnected:
            return
        if self.response_started:
            raise RuntimeError("Unexpected answer: the response has already started.")
        self.response_started = True
        self.head = self._head(status, headers)
        self._write_body(body, more_body=False)

    def answer_relayed(self, status: int, fields: list[bytes], body: bytes) -> None:
        """The express lane's answer: `fields` from `relayable_head` (lowercased token names,
        values without control characters, the Content-Length `body` matches, no framing or
        hop-by-hop field) written as `answer` writes them, without checking them again."""
        if self.disconnected:
            return
        if self.response_started:
            raise RuntimeError("Unexpected answer: the response has already started.")
        self.response_started = True
        protocol = self.protocol
        pieces = [STATUS_LINE[status]]
        for name, value in protocol.server_state.default_headers:  # none under rungateway
            pieces += (name.lower(), b": ", value, b"\r\n")
        pieces += fields
        pieces.append(b"\r\n" if self.keep_alive else b"connection: close\r\n\r\n")
        if self.scope["method"] != "HEAD":
            pieces.append(body)
        protocol.transport.write(b"".join(pieces))
        self._complete()

    def continue_in_task(self, app: Any) -> None:
        """What the express lane began goes on in a task, as `run(app)`."""
        self.protocol.spawn(self, app)

    async def receive(self) -> dict[str, Any]:
        if not self.sent_body and not self.disconnected and not self.response_complete:
            self.sent_body = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        if not self.disconnected and not self.response_complete:
            self.protocol.flow.resume_reading()
            if self.message_event is _UNWATCHED:
                self.message_event = asyncio.Event()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        protocol = self.protocol
        if protocol.flow.write_paused and not self.disconnected:
            await protocol.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{message['type']}'."
                )
            self.response_started = True
            self.head = self._head(message["status"], message.get("headers", ()))
            return
        if self.response_complete:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}' sent, after response already "
                "completed."
            )
        if message["type"] != "http.response.body":
            raise RuntimeError(
                f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
            )
        self._write_body(message.get("body", b""), message.get("more_body", False))

    def _write_body(self, body: bytes, more_body: bool) -> None:
        """A body message, with the head still held if it is the first (one write)."""
        protocol = self.protocol
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
            data = b""
        elif self.chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more_body:
                data += b"0\r\n\r\n"
        else:
            if len(body) > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= len(body)
            data = body
        transport = protocol.transport
        if self.head is not None:  # the head and the first piece of the body: one write
            transport.write(self.head + data if data else self.head)
            self.head = None
        elif data:
            transport.write(data)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self._complete()

    def _complete(self) -> None:
        """The last of the answer is written: the connection serves its next request or closes."""
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.protocol.transport.close()
        self.protocol.on_response_complete()

    def _head(self, status: int, fields: Any) -> bytes:
        """The status line and fields as uvicorn's cycle writes them (same checks, same order).

        uvicorn searches each name and each value; the patterns are single characters, so one
        search over all names and one over all values find the same.
        """
        headers = [*self.protocol.server_state.default_headers, *fields]
        names = b"".join([name for name, _ in headers])
        if HEADER_RE.search(names):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(b"".join([value for _, value in headers])):
            raise RuntimeError("Invalid HTTP header value.")
        if names.lower() != names:
            headers = [(name.lower(), value) for name, value in headers]
        content = [STATUS_LINE[status]]
        has_connection_close = False
        length_seen = False
        for name, value in headers:
            if name in _FRAMING:
                if name == b"content-length":
                    if not length_seen and not self.chunked:
                        self.expected_content_length = int(value.decode())
                        length_seen = True
                elif name == b"transfer-encoding":
                    if value.lower() == b"chunked":
                        self.expected_content_length = 0
                        self.chunked = True
                elif b"close" in [token.lower().strip() for token in value.split(b",")]:
                    self.keep_alive = False
                    has_connection_close = True
            content += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if (
            not length_seen
            and not self.chunked
            and self.scope["method"] != "HEAD"
            and status not in (204, 304)
        ):
            self.chunked = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        return b"".join(content)


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
