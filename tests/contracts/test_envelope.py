"""The envelope in the CloudEvents RabbitMQ binding, proven against the cloudevents SDK."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.contracts.envelope import Envelope, EnvelopeError

WHEN = datetime(2024, 5, 17, 9, 30, 12, 123456, tzinfo=UTC)


def full_envelope(**changes: object) -> Envelope:
    values: dict[str, object] = {
        "type": "catalog.product.upserted",
        "source": "monolith",
        "data": {"id": 7, "name": "Kettle", "price": "12.50", "tags": ["a", "ü"], "x": None},
        "subject": 7,
        "dataversion": 2,
        "aggregateversion": 41,
        "correlationid": "corr-1",
        "causationid": "cause-1",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "time": WHEN,
    }
    values.update(changes)
    return Envelope.new(**values)  # type: ignore[arg-type]


def sdk_message(headers: dict[str, str], content_type: str | None, body: bytes):
    return rabbitmq.RabbitMQMessage(headers=headers, content_type=content_type, body=body)


def test_our_message_read_by_the_sdk_has_the_same_attributes_and_data() -> None:
    envelope = full_envelope()
    message = envelope.to_message()

    event = rabbitmq.from_binary(
        sdk_message(message.headers, message.content_type, message.body), JSONFormat()
    )

    assert event.get_id() == envelope.id
    assert event.get_source() == "monolith"
    assert event.get_type() == "catalog.product.upserted"
    assert event.get_specversion() == "1.0"
    assert event.get_subject() == "7"
    assert event.get_time() == WHEN
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("dataversion") == "2"
    assert event.get_extension("aggregateversion") == "41"
    assert event.get_extension("correlationid") == "corr-1"
    assert event.get_extension("causationid") == "cause-1"
    assert event.get_extension("traceparent") == envelope.traceparent
    assert event.get_data() == envelope.data


def test_sdk_built_message_parsed_by_us_is_the_same_envelope() -> None:
    expected = full_envelope()
    event = CloudEvent(
        attributes={
            "id": expected.id,
            "source": "monolith",
            "type": "catalog.product.upserted",
            "subject": "7",
            "time": WHEN,
            "datacontenttype": "application/json",
            "dataversion": 2,
            "aggregateversion": 41,
            "correlationid": "corr-1",
            "causationid": "cause-1",
            "traceparent": expected.traceparent,
        },
        data=dict(expected.data),
    )
    message = rabbitmq.to_binary(event, JSONFormat())

    parsed = Envelope.from_message(message.headers, message.content_type, message.body)

    assert parsed == expected
    assert parsed.time == WHEN and parsed.time.utcoffset() == timedelta(0)


def test_round_trip_through_the_sdk_both_ways_keeps_the_envelope() -> None:
    envelope = full_envelope()
    message = envelope.to_message()
    event = rabbitmq.from_binary(
        sdk_message(message.headers, message.content_type, message.body), JSONFormat()
    )
    again = rabbitmq.to_binary(event, JSONFormat())

    assert Envelope.from_message(again.headers, again.content_type, again.body) == envelope


def test_time_with_an_offset_is_written_in_utc_and_read_back_as_the_same_instant() -> None:
    local = datetime(2024, 5, 17, 11, 30, 12, tzinfo=timezone(timedelta(hours=2)))
    message = full_envelope(time=local).to_message()

    assert message.headers["ce-time"] == "2024-05-17T09:30:12Z"
    assert Envelope.from_message(message.headers, message.content_type, message.body).time == local


def test_optional_attributes_absent_are_not_sent_as_headers() -> None:
    envelope = Envelope(id="e-1", source="monolith", type="orders.order.placed", data={"a": 1})

    message = envelope.to_message()

    assert message.headers == {
        "ce-id": "e-1",
        "ce-source": "monolith",
        "ce-type": "orders.order.placed",
        "ce-specversion": "1.0",
        "ce-dataversion": "1",
    }
    assert Envelope.from_message(message.headers, None, message.body) == envelope


def test_empty_correlation_id_is_treated_as_absent() -> None:
    message = full_envelope(correlationid="").to_message()

    assert "ce-correlationid" not in message.headers


def test_header_names_are_case_insensitive_and_bytes_values_are_decoded() -> None:
    headers = {
        "CE-ID": b"e-9",
        "Ce-Source": b"monolith",
        "ce-type": "orders.order.placed",
        "ce-specversion": b"1.0",
        "ce-aggregateversion": 3,
        "x-death": "ignored",
    }

    envelope = Envelope.from_message(headers, "application/json; charset=utf-8", b'{"a": 1}')

    assert (envelope.id, envelope.source, envelope.aggregateversion) == ("e-9", "monolith", 3)
    assert envelope.datacontenttype == "application/json; charset=utf-8"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(data=st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_any_json_object_survives_the_sdk_round_trip(data: dict) -> None:
    envelope = full_envelope(data=data)
    message = envelope.to_message()
    event = rabbitmq.from_binary(
        sdk_message(message.headers, message.content_type, message.body), JSONFormat()
    )
    again = rabbitmq.to_binary(event, JSONFormat())

    assert event.get_data() == data
    assert Envelope.from_message(again.headers, again.content_type, again.body).data == data


GOOD_HEADERS = {
    "ce-id": "e-1",
    "ce-source": "monolith",
    "ce-type": "orders.order.placed",
    "ce-specversion": "1.0",
}


@pytest.mark.parametrize("missing", ["ce-id", "ce-source", "ce-type", "ce-specversion"])
def test_message_without_a_required_attribute_is_rejected_naming_it(missing: str) -> None:
    headers = {k: v for k, v in GOOD_HEADERS.items() if k != missing}

    with pytest.raises(EnvelopeError, match=f"missing required CloudEvents attribute.*{missing}"):
        Envelope.from_message(headers, "application/json", b"{}")


@pytest.mark.parametrize(
    ("headers", "content_type", "body", "reason"),
    [
        ({"ce-specversion": "0.3"}, "application/json", b"{}", "unsupported specversion '0.3'"),
        ({}, "application/json", b"{not json", "body is not valid JSON"),
        ({}, "application/json", b"\xff\xfe", "body is not valid JSON"),
        ({}, "application/json", b"[1, 2]", "body must be a JSON object, got list"),
        ({"ce-dataversion": "two"}, "application/json", b"{}", "ce-dataversion must be an integer"),
        ({"ce-aggregateversion": "4.5"}, None, b"{}", "ce-aggregateversion must be an integer"),
        ({"ce-dataversion": "0"}, None, b"{}", "dataversion must be 1 or more"),
        ({"ce-time": "yesterday"}, None, b"{}", "ce-time is not an RFC 3339 timestamp"),
        ({"ce-time": "2024-05-17T09:30:12"}, None, b"{}", "ce-time must carry a time-zone offset"),
        ({}, "application/cloudevents+json", b"{}", "events travel in binary mode"),
        ({}, "text/plain", b"{}", "unsupported content type 'text/plain'"),
    ],
)
def test_malformed_message_is_rejected_with_a_clear_reason(
    headers: dict[str, str], content_type: str | None, body: bytes, reason: str
) -> None:
    with pytest.raises(EnvelopeError) as caught:
        Envelope.from_message({**GOOD_HEADERS, **headers}, content_type, body)

    assert reason in str(caught.value)


def test_envelope_refuses_a_naive_time_and_empty_required_attributes() -> None:
    with pytest.raises(EnvelopeError, match="timezone-aware"):
        full_envelope(time=datetime(2024, 1, 1))
    with pytest.raises(EnvelopeError, match="'source' must be a non-empty string"):
        full_envelope(source="")


def test_with_data_keeps_every_other_attribute() -> None:
    envelope = full_envelope()

    upgraded = envelope.with_data({"id": 7}, dataversion=3)

    assert upgraded.dataversion == 3 and upgraded.data == {"id": 7}
    assert (upgraded.id, upgraded.time, upgraded.aggregateversion) == (
        envelope.id,
        envelope.time,
        envelope.aggregateversion,
    )
    assert envelope.aggregate_type == "catalog.product"


def test_body_is_compact_utf8_json() -> None:
    body = full_envelope(data={"name": "Crème"}).to_message().body

    assert body == '{"name":"Crème"}'.encode()
    assert json.loads(body) == {"name": "Crème"}
