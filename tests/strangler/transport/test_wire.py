"""The kit's encoder of AMQP message properties writes py-amqp's bytes, or leaves it to py-amqp."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import amqp
import pytest
from amqp.exceptions import UnexpectedFrame
from amqp.serialization import GenericContent
from amqp.transport import TCPTransport

from strangler.transport.wire import (
    EventMessage,
    ReadAheadTransport,
    coalesced_writes,
    drain_frames,
    encode_properties,
    frame_buffered,
    read_ahead,
)

EVENT_HEADERS = {
    "ce-id": "0b6f2c1e-8f0c-4c5e-9d6e-3f1b2a4c5d6e",
    "ce-source": "monolith",
    "ce-type": "catalog.product.upserted",
    "ce-specversion": "1.0",
    "ce-subject": "42",
    "ce-time": "2026-12-06T03:52:18.106830Z",
    "ce-dataschema": "https://strangler-kit.invalid/schemas/catalog.product.upserted/v2.json",
    "ce-dataversion": "2",
    "ce-aggregateversion": "7",
    "ce-traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
}


def _generic(message: amqp.Message) -> bytes:
    """What py-amqp itself writes for the message's properties."""
    return GenericContent._serialize_properties(message)


@pytest.mark.parametrize(
    "properties",
    [
        {
            "content_type": "application/json",
            "delivery_mode": 2,
            "message_id": EVENT_HEADERS["ce-id"],
            "application_headers": EVENT_HEADERS,
        },
        {"content_type": "application/json", "application_headers": {}},
        {"application_headers": {"ce-subject": "ünïcødé ✓", "x-empty": ""}},
        {"delivery_mode": 1},
        {"message_id": "m-1", "content_type": "text/plain"},
        {},
    ],
    ids=["event", "empty-headers", "unicode", "mode-only", "no-headers", "nothing"],
)
def test_the_bytes_are_py_amqps(properties: dict) -> None:
    message = EventMessage(b"{}", **properties)
    assert encode_properties(message.properties) is not None
    assert message._serialize_properties() == _generic(message)


@pytest.mark.parametrize(
    "properties",
    [
        {"application_headers": {"x-strangler-attempts": 3}},  # an integer header
        {"application_headers": {"nested": {"a": "b"}}},
        {"content_type": "application/json", "priority": 5},  # a property it does not encode
        {"content_type": "application/json", "content_encoding": "utf-8"},
    ],
    ids=["int-header", "table-header", "priority", "encoding"],
)
def test_other_properties_take_py_amqps_path_with_the_same_bytes(properties: dict) -> None:
    message = EventMessage(b"{}", **properties)
    assert encode_properties(message.properties) is None
    assert message._serialize_properties() == _generic(message)


def test_a_header_name_over_255_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="255 bytes"):
        encode_properties({"application_headers": {"x" * 256: "v"}})


def test_the_decoded_properties_are_what_was_sent() -> None:
    """Round trip through py-amqp's own decoder (what a consumer reads)."""
    sent = EventMessage(
        b"{}",
        content_type="application/json",
        delivery_mode=2,
        message_id="id-1",
        application_headers=EVENT_HEADERS,
    )
    received = amqp.Message()
    received._load_properties(sent.CLASS_ID, sent._serialize_properties(), 0)
    assert received.properties == {
        "content_type": "application/json",
        "delivery_mode": 2,
        "message_id": "id-1",
        "application_headers": EVENT_HEADERS,
    }


class _Transport:
    """py-amqp's socket transport as far as coalesced_writes sees it: `_write` sends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self._write = self.sent.append


class _Connection:
    def __init__(self) -> None:
        self.transport = _Transport()


def test_frames_written_in_a_batch_go_out_together_in_order() -> None:
    connection = _Connection()
    frame = bytearray(b"0000")
    with coalesced_writes(connection):  # type: ignore[arg-type]
        for n in range(3):
            frame[:] = f"{n:04d}".encode()  # py-amqp reuses one buffer for every frame
            connection.transport._write(memoryview(frame))
        assert connection.transport.sent == []
    assert connection.transport.sent == [b"000000010002"]
    connection.transport._write(b"after")
    assert connection.transport.sent[-1] == b"after"  # the socket's own write is back


def test_a_large_batch_is_sent_in_pieces_of_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("strangler.transport.wire.COALESCE_BYTES", 10)
    connection = _Connection()
    with coalesced_writes(connection):  # type: ignore[arg-type]
        for _ in range(5):
            connection.transport._write(b"abcd")
    assert connection.transport.sent == [b"abcdabcdabcd", b"abcdabcd"]


def test_nothing_waiting_is_sent_when_the_batch_fails() -> None:
    connection = _Connection()
    with pytest.raises(ValueError), coalesced_writes(connection):  # type: ignore[arg-type]
        connection.transport._write(b"half a batch")
        raise ValueError("a header too long")
    assert connection.transport.sent == []
    connection.transport._write(b"next")
    assert connection.transport.sent == [b"next"]


# -- reading ---------------------------------------------------------------------------------------


def _frame(frame_type: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + bytes((end,))


class _ReadingConnection:
    """An amqp.Connection as read_ahead and drain_frames see it: a transport and blocking_read."""

    def __init__(self, sock: socket.socket) -> None:
        transport = TCPTransport.__new__(TCPTransport)
        transport.sock = sock
        transport.connected = True
        transport._read_buffer = b""
        self.transport = transport
        self.frames: list[tuple[int, int, bytes]] = []

    def blocking_read(self, timeout: float | None = None) -> bool:
        assert timeout is None
        self.frames.append(self.transport.read_frame())
        return True


@pytest.fixture
def wire() -> Iterator[tuple[_ReadingConnection, socket.socket]]:
    ours, broker = socket.socketpair()
    ours.settimeout(0.2)
    connection = _ReadingConnection(ours)
    read_ahead(connection)  # type: ignore[arg-type]
    yield connection, broker
    ours.close()
    broker.close()


def test_frames_are_cut_from_one_receive(wire: tuple[_ReadingConnection, socket.socket]) -> None:
    connection, broker = wire
    assert type(connection.transport) is ReadAheadTransport
    frames = [_frame(1, 1, b"method"), _frame(2, 1, b"header"), _frame(3, 1, b"x" * 5000)]
    broker.sendall(b"".join(frames))
    assert connection.transport.read_frame() == (1, 1, b"method")
    # The rest arrived with the first receive: whole frames wait in the buffer.
    assert frame_buffered(connection)  # type: ignore[arg-type]
    assert drain_frames(connection, lambda: False)  # type: ignore[arg-type]
    assert connection.frames == [(2, 1, b"header"), (3, 1, b"x" * 5000)]
    assert not frame_buffered(connection)  # type: ignore[arg-type]
    assert not drain_frames(connection, lambda: False)  # type: ignore[arg-type]


def test_drain_frames_stops_when_enough(wire: tuple[_ReadingConnection, socket.socket]) -> None:
    connection, broker = wire
    broker.sendall(b"".join(_frame(1, 1, bytes([n])) for n in range(3)))
    connection.transport.read_frame()
    drain_frames(connection, lambda: len(connection.frames) >= 1)  # type: ignore[arg-type]
    assert connection.frames == [(1, 1, b"\x01")]
    assert frame_buffered(connection)  # type: ignore[arg-type]


def test_a_frame_arriving_in_pieces_loses_nothing_on_a_timeout(
    wire: tuple[_ReadingConnection, socket.socket],
) -> None:
    connection, broker = wire
    whole = _frame(3, 2, b"body of the message")
    broker.sendall(whole[:5])
    with pytest.raises(TimeoutError):
        connection.transport.read_frame()
    broker.sendall(whole[5:12])
    assert not frame_buffered(connection)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        connection.transport.read_frame()
    assert connection.transport.connected  # a timeout is not a broken connection
    broker.sendall(whole[12:])
    assert connection.transport.read_frame() == (3, 2, b"body of the message")


def test_a_bad_frame_end_is_refused(wire: tuple[_ReadingConnection, socket.socket]) -> None:
    connection, broker = wire
    broker.sendall(_frame(1, 0, b"abc", end=0x00))
    with pytest.raises(UnexpectedFrame):
        connection.transport.read_frame()


def test_a_closed_connection_says_so(wire: tuple[_ReadingConnection, socket.socket]) -> None:
    connection, broker = wire
    broker.sendall(_frame(1, 0, b"abc")[:4])
    broker.close()
    with pytest.raises(OSError, match="unexpectedly closed"):
        connection.transport.read_frame()
    assert not connection.transport.connected


def test_bytes_py_amqp_had_buffered_are_kept() -> None:
    ours, broker = socket.socketpair()
    with ours, broker:
        connection = _ReadingConnection(ours)
        connection.transport._read_buffer = _frame(1, 1, b"early")[:6]
        read_ahead(connection)  # type: ignore[arg-type]
        broker.sendall(_frame(1, 1, b"early")[6:])
        assert connection.transport.read_frame() == (1, 1, b"early")


def test_other_transports_are_left_alone() -> None:
    class _Other:
        _read_buffer = b""

    connection = _Connection()
    connection.transport = _Other()  # type: ignore[assignment]
    read_ahead(connection)  # type: ignore[arg-type]
    assert type(connection.transport) is _Other
    assert not frame_buffered(connection)  # type: ignore[arg-type]
