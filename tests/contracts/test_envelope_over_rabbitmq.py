"""The envelope's headers and body survive a real RabbitMQ hop and are read by us and the SDK."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from kombu import Connection, Queue

from strangler.contracts.envelope import Envelope


@pytest.mark.rabbitmq
def test_message_published_to_rabbitmq_is_read_back_as_the_same_event(rabbitmq_url: str) -> None:
    envelope = Envelope.new(
        type="orders.order.placed",
        source="monolith",
        data={"order_id": 3, "total": "9.90", "note": "größer"},
        subject=3,
        aggregateversion=12,
        correlationid="corr-7",
        time=datetime(2024, 5, 17, 9, 30, 12, 500000, tzinfo=UTC),
    )
    message = envelope.to_message()
    queue_name = f"test.contracts.envelope.{uuid.uuid4().hex}"

    with Connection(rabbitmq_url, connect_timeout=5) as connection:
        channel = connection.channel()
        queue = Queue(queue_name, exclusive=True, auto_delete=True, channel=channel)
        queue.declare()
        producer = connection.Producer(channel)
        producer.publish(
            message.body,
            routing_key=queue_name,
            exchange="",
            headers=message.headers,
            content_type=message.content_type,
            serializer=None,
            delivery_mode=2,
        )
        received: list = []
        consumer = connection.Consumer(
            queue, callbacks=[lambda body, msg: received.append(msg)], accept=["application/json"]
        )
        with consumer:
            connection.drain_events(timeout=5)  # blocks until the delivery, or times out
        assert len(received) == 1, "the message never arrived"
        delivered = received[0]
        delivered.ack()

    parsed = Envelope.from_message(delivered.headers, delivered.content_type, delivered.body)
    assert parsed == envelope

    event = rabbitmq.from_binary(
        rabbitmq.RabbitMQMessage(dict(delivered.headers), delivered.content_type, delivered.body),
        JSONFormat(),
    )
    assert event.get_id() == envelope.id
    assert event.get_extension("aggregateversion") == "12"
    assert event.get_data() == envelope.data
