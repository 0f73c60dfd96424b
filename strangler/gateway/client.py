"""A small pooled HTTP/1.1 client on an asyncio protocol: keep-alive per instance, streamed bodies.

httpx costs about 1.5 ms of CPU per request on this kind of machine, more than the whole budget of
a proxy hop, so the gateway speaks HTTP/1.1 to its backends itself. It reads the backend's bytes in
a protocol's own buffer rather than through asyncio streams, and wakes the request only when what
it waits for has arrived, with one timer per wait (ADR 0014: the streams' readers, futures and
`asyncio.timeout` contexts were a fifth of the gateway's CPU per request). It only ever talks to
the instances of the routing table; it never follows redirects.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

Headers = list[tuple[bytes, bytes]]
_READ_SIZE = 64 * 1024
# A Content-Length body up to this size is read whole before the client's answer starts.
SHORT_BODY_BYTES = _READ_SIZE
# Reading from the backend pauses while this much is buffered and unread (a slow client).
_HIGH_WATER = 2 * _READ_SIZE
_NO_BODY_STATUSES = frozenset({204, 304})
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})
_FIELD_SEPARATOR = b": "


class UpstreamError(Exception):
    """A backend could not be used for this request."""

    #: True when no byte of the request reached the backend, so any method may be retried.
    request_not_sent = False


class UpstreamConnectError(UpstreamError):
    """The connection could not be opened (refused, unreachable, connect timeout)."""

    request_not_sent = True


class UpstreamTimeout(UpstreamError):
    """The backend did not answer (or send the next body chunk) in time."""


class UpstreamDisconnected(UpstreamError):
    """The backend closed the connection before its response head was complete."""


class UpstreamProtocolError(UpstreamError):
    """The backend's response is not well-formed HTTP/1.1 or exceeds a limit."""


class _Closed(Exception):
    """The backend closed the connection (or reset it) while bytes were awaited."""

    def __init__(self, *, partial: bool, reset: bool) -> None:
        super().__init__("connection closed" if not reset else "connection reset")
        self.partial = partial  # some bytes of what was awaited had arrived
        self.reset = reset


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an instance listens."""

    scheme: str
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        scheme, _, rest = url.partition("://")
        host, _, port = rest.rstrip("/").rpartition(":")
        return cls(scheme, host.strip("[]"), int(port))

    @property
    def host_header(self) -> bytes:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (host if self.port == default else f"{host}:{self.port}").encode()


class _Wire(asyncio.Protocol):
    """One backend connection's bytes as they arrive, and the one request waiting for them."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.reset: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._want = 0  # the waiter wakes once the buffer holds this many bytes
        # Or, instead of a waiter, a listener (the gateway's express lane, ADR 0014): called on
        # every arrival, on the end of the connection, and with True once its deadline passed.
        self._listener: Callable[[bool], None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        # One deadline timer per connection, not one per wait (ADR 0014): a wait sets
        # `_deadline`; the timer, when it fires, expires the waiter whose deadline has passed
        # or sets itself again for the current one. Nothing is cancelled after a quick answer.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # -- protocol callbacks --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        listener = self._listener
        if listener is not None:
            listener(False)
            return
        waiter = self._waiter
        if waiter is not None and len(buffer) >= self._want:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if len(buffer) > _HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.reset = exc
        self._wake()
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("connection lost"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        listener = self._listener
        if listener is not None:
            listener(False)
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def listen(self, listener: Callable[[bool], None] | None, timeout: float = 0.0) -> None:
        """Call `listener(False)` on each arrival and at the end of the connection, and
        `listener(True)` once `timeout` seconds pass without one being set again; None stops.

        The express lane's wait (ADR 0014): no future, no task to wake. A listener that is done
        with the connection, or hands the request to a coroutine, sets None first.
        """
        self._listener = listener
        if listener is not None:
            self._arm(timeout)

    def _arm(self, timeout: float) -> None:
        """The one deadline timer, due `timeout` from now (set only if none is due sooner)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._deadline = deadline = loop.time() + timeout
        if self._timer is None or self._timer_at > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(deadline, self._deadline_passed)
            self._timer_at = deadline

    # -- what a request awaits -----------------------------------------------------------------
    async def _wait(self, want: int, timeout: float) -> None:
        """Until the buffer holds `want` bytes, the connection ends, or TimeoutError."""
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        self._arm(timeout)
        assert self._loop is not None
        waiter = self._loop.create_future()
        self._waiter = waiter
        self._want = want
        try:
            await waiter
        finally:
            self._waiter = None

    def _deadline_passed(self) -> None:
        """The timer fired: expire the waiter if its deadline has come, else wait for it."""
        self._timer = None
        waiter = self._waiter
        listener = self._listener
        if listener is None and (waiter is None or waiter.done()):
            return  # no wait now: the next one sets the timer again
        loop = self._loop
        assert loop is not None
        deadline = self._deadline
        if loop.time() + 0.001 >= deadline:  # timers may fire up to a clock tick early
            if listener is not None:
                listener(True)
                return
            self._waiter = None
            waiter.set_exception(TimeoutError())  # type: ignore[union-attr]
        else:
            self._timer = loop.call_at(deadline, self._deadline_passed)
            self._timer_at = deadline

    async def read_head(self, limit: int, timeout: float) -> bytes:
        """The next response head, terminator included; _Closed or UpstreamProtocolError.

        `timeout` is for the whole head, however many pieces it comes in."""
        buffer = self.buffer
        start = 0
        deadline = time.monotonic() + timeout
        while True:
            end = buffer.find(b"\r\n\r\n", start)
            if end >= 0:
                if end + 4 > limit:
                    raise UpstreamProtocolError(f"response head over {limit} bytes")
                head = bytes(buffer[: end + 4])
                del buffer[: end + 4]
                return head
            if len(buffer) > limit:
                raise UpstreamProtocolError(f"response head over {limit} bytes")
            if self.eof:
                raise _Closed(partial=bool(buffer), reset=self.reset is not None)
            start = max(0, len(buffer) - 3)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError()
            await self._wait(len(buffer) + 1, remaining)

    async def read_some(self, most: int, timeout: float) -> bytes:
        """Up to `most` buffered bytes, waiting for some; b"" once the backend closed."""
        buffer = self.buffer
        if not buffer:
            if self.eof:
                if self.reset is not None:
                    raise _Closed(partial=False, reset=True)
                return b""
            await self._wait(1, timeout)
            if not buffer:
                if self.reset is not None:
                    raise _Closed(partial=False, reset=True)
                return b""
        if len(buffer) <= most:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:most])
            del buffer[:most]
        self._consumed()
        return data

    async def read_line(self, limit: int, timeout: float) -> bytes:
        """Up to and including the next LF (chunked framing)."""
        buffer = self.buffer
        while True:
            end = buffer.find(b"\n")
            if end >= 0:
                line = bytes(buffer[: end + 1])
                del buffer[: end + 1]
                return line
            if len(buffer) > limit:
                raise UpstreamProtocolError("bad chunked body: line too long")
            if self.eof:
                raise _Closed(partial=bool(buffer), reset=self.reset is not None)
            await self._wait(len(buffer) + 1, timeout)

    async def read_exactly(self, size: int, timeout: float) -> bytes:
        """Exactly `size` bytes; the timeout runs from each arrival, as for any read."""
        buffer = self.buffer
        while len(buffer) < size:
            if self.eof:
                raise _Closed(partial=bool(buffer), reset=self.reset is not None)
            await self._wait(len(buffer) + 1, timeout)
        return self.take(size)

    def take(self, size: int, skip: int = 0) -> bytes:
        """The first `size` bytes of the buffer (all there) removed from it; those after the
        first `skip` returned, copied once (a bytearray slice would be a second copy)."""
        buffer = self.buffer
        with memoryview(buffer) as view:
            data = bytes(view[skip:size])
        if len(buffer) == size:
            buffer.clear()
        else:
            del buffer[:size]
        self._consumed()
        return data

    def _consumed(self) -> None:
        if self._reading_paused and len(self.buffer) <= _READ_SIZE and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        """Until the transport's write buffer is below its high-water mark."""
        if self.reset is not None or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection lost")
        if self._writing_paused:
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiter = waiter
            await waiter


class Connection:
    """One keep-alive connection to an instance."""

    __slots__ = ("idle_since", "reused", "transport", "wire")

    def __init__(self, transport: asyncio.Transport, wire: _Wire) -> None:
        self.transport = transport
        self.wire = wire
        self.idle_since = 0.0
        self.reused = False

    def usable(self) -> bool:
        # EOF or stray bytes on an idle connection mean the backend closed it or misbehaved.
        wire = self.wire
        return not (self.transport.is_closing() or wire.eof or wire.buffer)

    def close(self) -> None:
        self.transport.abort()


class ConnectionPool:
    """Idle keep-alive connections to one instance, most recently used first."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_idle: int,
        idle_timeout: float,
        connect_timeout: float,
        header_limit: int,
    ) -> None:
        self.endpoint = endpoint
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.header_limit = header_limit
        self._idle: deque[Connection] = deque()
        self._ssl = ssl_module.create_default_context() if endpoint.scheme == "https" else None
        self.opened = 0

    def take(self) -> Connection | None:
        """An idle connection that is still usable, or None (then `acquire` opens one)."""
        idle = self._idle
        if idle:
            now = time.monotonic()
            while idle:
                conn = idle.pop()
                if conn.usable() and now - conn.idle_since < self.idle_timeout:
                    conn.reused = True
                    return conn
                conn.close()
        return None

    async def acquire(self) -> Connection:
        conn = self.take()
        if conn is not None:
            return conn
        try:
            async with asyncio.timeout(self.connect_timeout):
                transport, wire = await asyncio.get_running_loop().create_connection(
                    _Wire, self.endpoint.host, self.endpoint.port, ssl=self._ssl
                )
        except TimeoutError as exc:
            raise UpstreamConnectError(f"connect to {self.endpoint} timed out") from exc
        except OSError as exc:
            raise UpstreamConnectError(f"connect to {self.endpoint}: {exc}") from exc
        self.opened += 1
        return Connection(transport, wire)

    def release(self, conn: Connection) -> None:
        if len(self._idle) >= self.max_idle or not conn.usable():
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    @property
    def idle_count(self) -> int:
        return len(self._idle)


class UpstreamResponse:
    """A backend's response head, with the body still on the wire until read."""

    __slots__ = (
        "_chunked",
        "_conn",
        "_keep_alive",
        "_pool",
        "_read_timeout",
        "_remaining",
        "_until_close",
        "done",
        "headers",
        "status",
    )

    def __init__(
        self,
        pool: ConnectionPool,
        conn: Connection,
        status: int,
        headers: Headers,
        *,
        keep_alive: bool,
        content_length: int | None,
        chunked: bool,
        read_timeout: float,
    ) -> None:
        self._pool = pool
        self._conn: Connection | None = conn
        self.status = status
        self.headers = headers
        self._keep_alive = keep_alive
        self._chunked = chunked
        self._until_close = content_length is None and not chunked
        self._remaining = content_length or 0
        self._read_timeout = read_timeout
        self.done = False
        if not chunked and not self._until_close and self._remaining == 0:
            self._finish()

    def _finish(self) -> None:
        self.done = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._keep_alive and not self._until_close:
            self._pool.release(conn)
        else:
            conn.close()

    @property
    def short_body(self) -> bool:
        """A Content-Length body small enough to read in one go before answering the client."""
        return not self._chunked and not self._until_close and self._remaining <= SHORT_BODY_BYTES

    def discard(self) -> None:
        """Give up on the rest of the body; the connection cannot be reused."""
        conn, self._conn = self._conn, None
        self.done = True
        if conn is not None:
            conn.close()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, piece by piece as it arrives (chunked framing removed)."""
        try:
            while not self.done:
                chunk = await self._next_chunk()
                if chunk:
                    yield chunk
        except BaseException:
            self.discard()
            raise

    def read_buffered(self) -> bytes | None:
        """A short body that has already arrived whole (it often comes with its head), without
        a wait or a coroutine; None when `read` must wait for it."""
        conn = self._conn
        if conn is None or not self.short_body:
            return None
        size = self._remaining
        if len(conn.wire.buffer) < size:
            return None
        data = conn.wire.take(size)
        self._remaining = 0
        self._finish()
        return data

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body; UpstreamProtocolError when it is longer than limit."""
        if self.done:
            return b""
        fits = limit is None or self._remaining <= limit
        if self.short_body and self._conn is not None and fits:
            # The common small answer: one wait at most, often none (it came with its head).
            try:
                data = await self._conn.wire.read_exactly(self._remaining, self._read_timeout)
            except Exception as exc:
                self.discard()
                error = _body_error(exc)
                if error is exc:
                    raise
                raise error from exc
            except BaseException:
                self.discard()
                raise
            self._remaining = 0
            self._finish()
            return data
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if limit is not None and size > limit:
                self.discard()
                raise UpstreamProtocolError(f"response body over {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def _next_chunk(self) -> bytes:
        assert self._conn is not None
        wire = self._conn.wire
        try:
            if self._chunked:
                return await self._next_chunked(wire)
            if self._until_close:
                data = await wire.read_some(_READ_SIZE, self._read_timeout)
                if not data:
                    self._finish()
                return data
            data = await wire.read_some(min(self._remaining, _READ_SIZE), self._read_timeout)
            if not data:
                raise UpstreamDisconnected("backend closed the connection mid-body")
            self._remaining -= len(data)
            if self._remaining == 0:
                self._finish()
            return data
        except UpstreamError:
            raise
        except Exception as exc:
            error = _body_error(exc)
            if error is exc:
                raise
            raise error from exc

    async def _next_chunked(self, wire: _Wire) -> bytes:
        timeout = self._read_timeout
        if self._remaining == 0:
            line = await wire.read_line(_READ_SIZE, timeout)
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await wire.read_line(_READ_SIZE, timeout)).strip():
                    pass  # trailers are dropped: they are end-to-end only when announced
                self._finish()
                return b""
            self._remaining = size
        data = await wire.read_some(min(self._remaining, _READ_SIZE), timeout)
        if not data:
            raise _Closed(partial=False, reset=False)
        self._remaining -= len(data)
        if self._remaining == 0:
            await wire.read_exactly(2, timeout)  # CRLF after the chunk data
        return data


def _body_error(exc: Exception) -> Exception:
    """What a failure while reading the body means to the caller."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("backend stopped sending the body")
    if isinstance(exc, _Closed | ConnectionError):
        return UpstreamDisconnected(f"backend connection failed mid-body: {exc}")
    if isinstance(exc, ValueError):
        return UpstreamProtocolError(f"bad chunked body: {exc}")
    return exc


async def send_request(
    pool: ConnectionPool,
    method: str,
    target: bytes,
    headers: Headers,
    body: bytes | AsyncIterator[bytes] | None,
    *,
    read_timeout: float,
    content_length: int | None = None,
) -> UpstreamResponse:
    """Send one request over a pooled connection and return once the response head arrived.

    `body` is bytes (sent with Content-Length), an async iterator (sent with `content_length`
    when known, chunked otherwise) or None (no body).
    """
    conn = pool.take() or await pool.acquire()  # a pooled connection without a coroutine
    try:
        streamed = body is not None and not isinstance(body, bytes)
        lines = request_head(method, target, headers, body, content_length)
        try:
            if isinstance(body, bytes):
                lines.append(body)
                conn.transport.write(b"".join(lines))
            else:
                conn.transport.write(b"".join(lines))
                if streamed:
                    await _write_stream(conn, body, chunked=content_length is None)  # type: ignore[arg-type]
        except ConnectionError as exc:
            error = UpstreamDisconnected(f"{pool.endpoint}: {exc}")
            error.request_not_sent = conn.reused
            raise error from exc
    except BaseException:
        conn.close()
        raise
    return await await_response(pool, conn, method, read_timeout=read_timeout)


def request_head(
    method: str,
    target: bytes,
    headers: Headers,
    body: bytes | AsyncIterator[bytes] | None,
    content_length: int | None = None,
) -> list[bytes]:
    """The request line and fields, ending in the empty line, as pieces for one `join`."""
    lines = [method.encode(), b" ", target, b" HTTP/1.1\r\n"]
    if headers:  # every b"name: value" joined in C, with no format string to parse per field
        lines += (b"\r\n".join(map(_FIELD_SEPARATOR.join, headers)), b"\r\n")
    if isinstance(body, bytes):
        if body or method not in _NO_BODY_METHODS:
            lines.append(b"content-length: %d\r\n" % len(body))
    elif body is not None:
        if content_length is not None:
            lines.append(b"content-length: %d\r\n" % content_length)
        else:
            lines.append(b"transfer-encoding: chunked\r\n")
    lines.append(b"\r\n")
    return lines


async def await_response(
    pool: ConnectionPool,
    conn: Connection,
    method: str,
    *,
    read_timeout: float,
    head_timeout: float | None = None,
) -> UpstreamResponse:
    """The response to the request just sent on `conn`, once its head arrived.

    The head must come within `head_timeout` (default: `read_timeout`); the body's reads wait
    `read_timeout` from each arrival. The connection is closed on any failure.
    """
    wire = conn.wire
    if head_timeout is None:
        head_timeout = read_timeout
    try:
        try:
            head = await wire.read_head(pool.header_limit, head_timeout)
            status, response_headers, version_11 = parse_head(head)
            while 100 <= status < 200:  # interim responses (100 Continue, 103) are dropped
                head = await wire.read_head(pool.header_limit, read_timeout)
                status, response_headers, version_11 = parse_head(head)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{pool.endpoint} did not answer within {read_timeout}s") from exc
        except _Closed as exc:
            if exc.reset:
                error = UpstreamDisconnected(f"{pool.endpoint}: {exc}")
                error.request_not_sent = conn.reused
            else:
                error = UpstreamDisconnected(
                    f"{pool.endpoint} closed the connection without answering"
                )
                # A reused idle connection the backend closed at the same moment: nothing was
                # processed.
                error.request_not_sent = conn.reused and not exc.partial
            raise error from exc
        except ConnectionError as exc:
            error = UpstreamDisconnected(f"{pool.endpoint}: {exc}")
            error.request_not_sent = conn.reused
            raise error from exc
        except UpstreamProtocolError as exc:
            raise UpstreamProtocolError(f"{pool.endpoint}: {exc}") from exc
        content_length, chunked, keep_alive = framing(method, status, response_headers, version_11)
    except BaseException:
        conn.close()
        raise
    return UpstreamResponse(
        pool,
        conn,
        status,
        response_headers,
        keep_alive=keep_alive,
        content_length=content_length,
        chunked=chunked,
        read_timeout=read_timeout,
    )


async def _write_stream(conn: Connection, body: AsyncIterator[bytes], *, chunked: bool) -> None:
    write = conn.transport.write
    async for chunk in body:
        if not chunk:
            continue
        if chunked:
            write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            write(chunk)
        await conn.wire.drain()
    if chunked:
        write(b"0\r\n\r\n")
    await conn.wire.drain()


def parse_head(head: bytes) -> tuple[int, Headers, bool]:
    """Status, headers (names lowercased, values stripped), whether the response is HTTP/1.1."""
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise UpstreamProtocolError(f"bad status line {lines[0][:80]!r}")
    headers: Headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name[-1:] in (b" ", b"\t") or line[:1] in (b" ", b"\t"):
            raise UpstreamProtocolError(f"bad header line {line[:80]!r}")
        headers.append((name.lower(), value.strip()))
    return int(parts[1]), headers, parts[0] == b"HTTP/1.1"


def framing(
    method: str, status: int, headers: Headers, version_11: bool
) -> tuple[int | None, bool, bool]:
    """How the response's body is delimited: Content-Length (None: until close), chunked, and
    whether the connection stays open after it. UpstreamProtocolError for what cannot be read."""
    content_length: int | None = None
    chunked = False
    connection = b""
    lengths: set[bytes] = set()
    for name, value in headers:
        if name == b"content-length":
            lengths.add(value)
        elif name == b"transfer-encoding":
            chunked = value.lower().rsplit(b",", 1)[-1].strip() == b"chunked"
            if not chunked:
                raise UpstreamProtocolError("unsupported response transfer-encoding")
        elif name == b"connection":
            connection += b"," + value.lower()
    if lengths and not chunked:
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise UpstreamProtocolError(f"bad content-length {sorted(lengths)}")
        content_length = int(next(iter(lengths)))
    if method == "HEAD" or status in _NO_BODY_STATUSES:
        content_length, chunked = 0, False
    if connection:
        tokens = {t.strip() for t in connection.split(b",")}
        keep_alive = (b"close" not in tokens) if version_11 else (b"keep-alive" in tokens)
    else:
        keep_alive = version_11
    return content_length, chunked, keep_alive
