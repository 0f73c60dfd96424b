"""A small pooled HTTP/1.1 client on asyncio streams: keep-alive per instance, streamed bodies.

httpx costs about 1.5 ms of CPU per request on this kind of machine, more than the whole budget of
a proxy hop, so the gateway speaks HTTP/1.1 to its backends itself. It only ever talks to the
instances of the routing table; it never follows redirects.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

Headers = list[tuple[bytes, bytes]]
_READ_SIZE = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


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


class Connection:
    """One keep-alive connection to an instance."""

    __slots__ = ("idle_since", "reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.reused = False

    def usable(self) -> bool:
        # EOF or stray bytes on an idle connection mean the backend closed it or misbehaved.
        return not (
            self.writer.transport.is_closing() or self.reader.at_eof() or self.reader._buffer  # type: ignore[attr-defined]
        )

    def close(self) -> None:
        self.writer.transport.abort()


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

    async def acquire(self) -> Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable() and now - conn.idle_since < self.idle_timeout:
                conn.reused = True
                return conn
            conn.close()
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.endpoint.host,
                    self.endpoint.port,
                    ssl=self._ssl,
                    limit=self.header_limit,
                )
        except TimeoutError as exc:
            raise UpstreamConnectError(f"connect to {self.endpoint} timed out") from exc
        except OSError as exc:
            raise UpstreamConnectError(f"connect to {self.endpoint}: {exc}") from exc
        self.opened += 1
        return Connection(reader, writer)

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
        return not self._chunked and not self._until_close and self._remaining <= _READ_SIZE

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

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body; UpstreamProtocolError when it is longer than limit."""
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
        reader = self._conn.reader
        try:
            async with asyncio.timeout(self._read_timeout):
                if self._chunked:
                    return await self._next_chunked(reader)
                if self._until_close:
                    data = await reader.read(_READ_SIZE)
                    if not data:
                        self._finish()
                    return data
                data = await reader.read(min(self._remaining, _READ_SIZE))
                if not data:
                    raise UpstreamDisconnected("backend closed the connection mid-body")
                self._remaining -= len(data)
                if self._remaining == 0:
                    self._finish()
                return data
        except TimeoutError as exc:
            raise UpstreamTimeout("backend stopped sending the body") from exc
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise UpstreamDisconnected(f"backend connection failed mid-body: {exc}") from exc
        except (asyncio.LimitOverrunError, ValueError) as exc:
            raise UpstreamProtocolError(f"bad chunked body: {exc}") from exc

    async def _next_chunked(self, reader: asyncio.StreamReader) -> bytes:
        if self._remaining == 0:
            line = await reader.readuntil(b"\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\n")).strip():
                    pass  # trailers are dropped: they are end-to-end only when announced
                self._finish()
                return b""
            self._remaining = size
        data = await reader.read(min(self._remaining, _READ_SIZE))
        if not data:
            raise asyncio.IncompleteReadError(b"", self._remaining)
        self._remaining -= len(data)
        if self._remaining == 0:
            await reader.readexactly(2)  # CRLF after the chunk data
        return data


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
    conn = await pool.acquire()
    try:
        return await _exchange(
            pool, conn, method, target, headers, body, read_timeout, content_length
        )
    except BaseException:
        conn.close()
        raise


async def _exchange(
    pool: ConnectionPool,
    conn: Connection,
    method: str,
    target: bytes,
    headers: Headers,
    body: bytes | AsyncIterator[bytes] | None,
    read_timeout: float,
    content_length: int | None,
) -> UpstreamResponse:
    lines = [method.encode(), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        lines += (name, b": ", value, b"\r\n")
    streamed = body is not None and not isinstance(body, bytes)
    if isinstance(body, bytes):
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS", "TRACE"):
            lines.append(b"content-length: %d\r\n" % len(body))
    elif streamed:
        if content_length is not None:
            lines.append(b"content-length: %d\r\n" % content_length)
        else:
            lines.append(b"transfer-encoding: chunked\r\n")
    lines.append(b"\r\n")
    writer = conn.writer
    try:
        if isinstance(body, bytes):
            lines.append(body)
            writer.write(b"".join(lines))
        else:
            writer.write(b"".join(lines))
            if streamed:
                await _write_stream(writer, body, chunked=content_length is None)  # type: ignore[arg-type]
        async with asyncio.timeout(read_timeout):
            status, response_headers, version_11 = await _read_head(conn.reader)
            while 100 <= status < 200:  # interim responses (100 Continue, 103) are dropped
                status, response_headers, version_11 = await _read_head(conn.reader)
    except TimeoutError as exc:
        raise UpstreamTimeout(f"{pool.endpoint} did not answer within {read_timeout}s") from exc
    except asyncio.IncompleteReadError as exc:
        error = UpstreamDisconnected(f"{pool.endpoint} closed the connection without answering")
        # A reused idle connection the backend closed at the same moment: nothing was processed.
        error.request_not_sent = conn.reused and not exc.partial
        raise error from exc
    except ConnectionError as exc:
        error = UpstreamDisconnected(f"{pool.endpoint}: {exc}")
        error.request_not_sent = conn.reused
        raise error from exc
    except asyncio.LimitOverrunError as exc:
        raise UpstreamProtocolError(f"{pool.endpoint} sent an oversized response head") from exc
    return _response(pool, conn, method, status, response_headers, version_11, read_timeout)


async def _write_stream(
    writer: asyncio.StreamWriter, body: AsyncIterator[bytes], *, chunked: bool
) -> None:
    async for chunk in body:
        if not chunk:
            continue
        if chunked:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            writer.write(chunk)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, Headers, bool]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise
    except ValueError as exc:  # the StreamReader's limit, seen as ValueError on some paths
        raise asyncio.LimitOverrunError(str(exc), 0) from exc
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


def _response(
    pool: ConnectionPool,
    conn: Connection,
    method: str,
    status: int,
    headers: Headers,
    version_11: bool,
    read_timeout: float,
) -> UpstreamResponse:
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
    tokens = {t.strip() for t in connection.split(b",")}
    keep_alive = (b"close" not in tokens) if version_11 else (b"keep-alive" in tokens)
    return UpstreamResponse(
        pool,
        conn,
        status,
        headers,
        keep_alive=keep_alive,
        content_length=content_length,
        chunked=chunked,
        read_timeout=read_timeout,
    )
