"""The bytes the kit puts on and takes off the wire: content headers encoded without py-amqp's
generic table writer, a batch's frames written in a few large writes, and frames read from
what has arrived rather than field by field.

py-amqp serialises every property through `serialization.dumps`, one `BytesIO` write and one
`struct.pack` per header key and value, whatever the value's type: with the nine `ce-` headers of
an event that was two thirds of the relay's Python time (cProfile with a CPU clock, ADR 0013).
The kit's messages carry a content type, text headers, a delivery mode and a message id, so
`EventMessage` encodes exactly those, with each header's key bytes kept from one message to the
next; a message with any other property or a header value that is not text takes py-amqp's path.
The bytes are the same either way (tests/strangler/test_wire.py compares them).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterator
from struct import Struct
from typing import Any

import amqp
from amqp.exceptions import UnexpectedFrame
from amqp.transport import TCPTransport

# Property flags of basic.properties, in the order AMQP 0-9-1 lists them (amqp.Message.PROPERTIES).
_CONTENT_TYPE = 1 << 15
_APPLICATION_HEADERS = 1 << 13
_DELIVERY_MODE = 1 << 12
_MESSAGE_ID = 1 << 7
_FAST_PROPERTIES = frozenset({"content_type", "application_headers", "delivery_mode", "message_id"})

_UINT32 = Struct(">I")
_FLAGS = Struct(">H")
_KEYS: dict[str, bytes] = {}  # header name -> its shortstr and the long-string type tag `S`
_MAX_KEYS = 1024


def _key(name: str) -> bytes:
    encoded = _KEYS.get(name)
    if encoded is None:
        raw = name.encode("utf-8", "surrogatepass")
        if len(raw) > 255:
            raise ValueError(f"header name longer than 255 bytes: {name[:40]!r}...")
        encoded = bytes((len(raw),)) + raw + b"S"
        if len(_KEYS) < _MAX_KEYS:
            _KEYS[name] = encoded
    return encoded


def _shortstr(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) > 255:
        raise ValueError(f"property longer than 255 bytes: {value[:40]!r}...")
    return bytes((len(raw),)) + raw


def encode_properties(properties: dict[str, Any]) -> bytes | None:
    """The property flags and list of `properties`, or None when they need py-amqp's encoder."""
    if not properties.keys() <= _FAST_PROPERTIES:
        return None
    flags = 0
    parts: list[bytes] = []
    content_type = properties.get("content_type")
    if content_type is not None:
        flags |= _CONTENT_TYPE
        parts.append(_shortstr(content_type))
    headers = properties.get("application_headers")
    if headers is not None:
        table: list[bytes] = []
        for name, value in headers.items():
            if type(name) is not str or type(value) is not str:
                return None
            raw = value.encode("utf-8", "surrogatepass")
            table += (_key(name), _UINT32.pack(len(raw)), raw)
        encoded = b"".join(table)
        flags |= _APPLICATION_HEADERS
        parts += (_UINT32.pack(len(encoded)), encoded)
    delivery_mode = properties.get("delivery_mode")
    if delivery_mode is not None:
        flags |= _DELIVERY_MODE
        parts.append(bytes((delivery_mode,)))
    message_id = properties.get("message_id")
    if message_id is not None:
        flags |= _MESSAGE_ID
        parts.append(_shortstr(message_id))
    return _FLAGS.pack(flags) + b"".join(parts)


class EventMessage(amqp.Message):
    """An `amqp.Message` whose properties are encoded by `encode_properties` when they can be."""

    def _serialize_properties(self) -> bytes:
        encoded = encode_properties(self.properties)
        return super()._serialize_properties() if encoded is None else encoded


# A batch's frames go out when this many bytes are waiting (and at the end of the batch).
COALESCE_BYTES = 256 * 1024


@contextlib.contextmanager
def coalesced_writes(connection: amqp.Connection) -> Iterator[None]:
    """Collect what `connection` writes inside the block and send it in large writes.

    py-amqp writes each published message (method, header and body frames) with one `sendall`:
    a batch of 500 events was 500 system calls, each waking the broker for one message, and the
    largest single cost in the relay's profile (py-spy: 29% of its samples on that line). The
    frames are copied (py-amqp reuses one buffer for every frame) and sent whenever
    COALESCE_BYTES are waiting, and at the end of the block. If the block raises, nothing
    waiting is sent: the caller must drop the connection, whose channel has counted messages the
    broker never saw.
    """
    transport = connection.transport
    send = getattr(transport, "_write", None)
    if send is None:  # not py-amqp's socket transport: write as it does
        yield
        return
    waiting: list[bytes] = []
    size = 0

    def collect(data: Any) -> None:
        nonlocal size
        waiting.append(bytes(data))
        size += len(data)
        if size >= COALESCE_BYTES:
            flush()

    def flush() -> None:
        nonlocal size
        if waiting:
            chunk = b"".join(waiting)
            waiting.clear()
            size = 0
            send(chunk)

    transport._write = collect
    try:
        yield
    finally:
        transport._write = send
    flush()


# What one receive may take: every frame already in the socket's buffer, in one system call.
READ_AHEAD_BYTES = 64 * 1024
_FRAME_HEADER = Struct(">BHI")
_FRAME_END = 0xCE
_UNAVAILABLE = {errno.EAGAIN, errno.EINTR, errno.ENOENT, errno.EWOULDBLOCK}


class ReadAheadTransport(TCPTransport):
    """py-amqp's socket transport, reading every byte that has arrived at once.

    py-amqp reads a frame in three `recv` calls (its header, its payload, its end octet), each
    inside `having_timeout`, which sets the socket's timeout and puts it back (two `fcntl` each):
    a consumed message is three frames, so some fifteen system calls. Here a receive takes up to
    READ_AHEAD_BYTES, frames are cut from the buffer, and `frame_buffered` lets a reader take the
    next frame without touching the socket. Unread bytes stay in `_read_buffer` (a bytearray:
    deleting its head costs nothing), so a timeout mid-frame loses nothing, as before.
    """

    def read_frame(self, unpack: Any = None) -> tuple[int, int, bytes]:
        buffer = self._read_buffer
        while len(buffer) < 7:
            self._receive(buffer)
        frame_type, channel, size = _FRAME_HEADER.unpack_from(buffer)
        end = 7 + size
        while len(buffer) <= end:
            self._receive(buffer)
        if buffer[end] != _FRAME_END:
            raise UnexpectedFrame(f"Received frame_end {buffer[end]:#04x} while expecting 0xce")
        payload = bytes(memoryview(buffer)[7:end])
        del buffer[: end + 1]
        return frame_type, channel, payload

    def _receive(self, buffer: bytearray) -> None:
        try:
            data = self.sock.recv(READ_AHEAD_BYTES)
        except OSError as exc:
            # A timeout is TimeoutError (an OSError without errno): the connection stays usable.
            if exc.errno is not None and exc.errno not in _UNAVAILABLE:
                self.connected = False
            raise
        if not data:
            self.connected = False
            raise OSError("Server unexpectedly closed connection")
        buffer += data


def read_ahead(connection: amqp.Connection) -> amqp.Connection:
    """Switch a connected py-amqp connection's socket transport to ReadAheadTransport.

    Anything else (TLS, another transport) is left as it is. Call it once a connection is made;
    bytes py-amqp had already buffered are kept.
    """
    transport = connection.transport
    if type(transport) is TCPTransport:
        transport.__class__ = ReadAheadTransport
        transport._read_buffer = bytearray(transport._read_buffer)
    return connection


def frame_buffered(connection: amqp.Connection) -> bool:
    """True when a whole frame has arrived and waits in the read-ahead buffer."""
    transport = connection.transport
    if type(transport) is not ReadAheadTransport:
        return False
    buffer = transport._read_buffer
    return len(buffer) >= 8 and len(buffer) > 7 + _FRAME_HEADER.unpack_from(buffer)[2]


def drain_frames(connection: amqp.Connection, enough: Callable[[], bool]) -> bool:
    """Dispatch the frames already buffered, until `enough()`; True when it dispatched any.

    `blocking_read(None)` leaves the socket's timeout alone, and the frame is cut from the
    buffer: no system call. The caller then waits on the socket (`drain_events(timeout=...)`)
    only when nothing whole is left to read.
    """
    dispatched = False
    while not enough() and frame_buffered(connection):
        connection.blocking_read(None)
        dispatched = True
    return dispatched
