"""The kit's encoder of AMQP message properties writes py-amqp's bytes, or leaves it to py-amqp."""

from __future__ import annotations

import amqp
import pytest
from amqp.serialization import GenericContent

from strangler.transport.wire import EventMessage, coalesced_writes, encode_properties

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
