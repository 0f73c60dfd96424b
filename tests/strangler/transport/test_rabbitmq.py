"""The RabbitMQ transport against a real broker: confirms, mandatory routing, quorum topology."""

from __future__ import annotations

import dataclasses
import json

import amqp
import pytest
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from strangler.transport.base import TransportError
from strangler.transport.conf import TransportSettings
from strangler.transport.rabbitmq import QueueNotFound, RabbitMQTransport
from tests.processes import free_port
from tests.strangler.transport.conftest import event_message, subscribe

pytestmark = pytest.mark.rabbitmq


def test_published_batch_is_confirmed_and_readable_by_a_plain_amqp_consumer(
    rabbit: RabbitMQTransport, rabbitmq_url: str
) -> None:
    subscription = subscribe(rabbit, "catalog.#")
    messages = [event_message(n=i) for i in range(200)]
    outcomes = rabbit.publish_batch(messages)
    assert [o.message_id for o in outcomes] == [m.message_id for m in messages]
    assert all(o.confirmed for o in outcomes)

    host = rabbitmq_url.split("@")[1].split("/")[0]
    with amqp.Connection(host, userid="guest", password="guest") as connection:
        channel = connection.channel()
        first = channel.basic_get(subscription.queue, no_ack=True)
    assert first.properties["delivery_mode"] == 2
    assert first.properties["content_type"] == "application/json"
    assert first.properties["message_id"] == messages[0].message_id
    event = from_binary(
        RabbitMQMessage(
            headers=first.properties["application_headers"],
            content_type=first.properties["content_type"],
            body=first.body,
        ),
        JSONFormat(),
    )
    assert event.get_id() == messages[0].message_id
    assert event.get_type() == "catalog.product.upserted"
    assert event.get_data() == {"n": 0}


def test_unroutable_message_is_not_confirmed(rabbit: RabbitMQTransport) -> None:
    subscribe(rabbit, "catalog.#")
    routed, unroutable = event_message(), event_message("orders.order.placed")
    outcomes = rabbit.publish_batch([routed, unroutable])
    assert outcomes[0].confirmed
    assert not outcomes[1].confirmed
    assert "unroutable" in outcomes[1].error


def test_declaring_twice_is_idempotent_and_queue_is_quorum_with_dead_lettering(
    rabbit: RabbitMQTransport, rabbitmq_url: str
) -> None:
    subscription = subscribe(rabbit, "catalog.#", "orders.order.placed")
    rabbit.declare_subscription(subscription)
    rabbit.publish_batch([event_message("orders.order.placed")])
    assert rabbit.queue_depth(subscription.queue) == 1
    assert rabbit.queue_depth(subscription.dead_letter_queue) == 0
    # A quorum queue refuses a redeclaration as classic: proof of its type.
    host = rabbitmq_url.split("@")[1].split("/")[0]
    with (
        amqp.Connection(host, userid="guest", password="guest") as connection,
        pytest.raises(amqp.exceptions.PreconditionFailed),
    ):
        connection.channel().queue_declare(
            subscription.queue, durable=True, arguments={"x-queue-type": "classic"}
        )


def test_rejected_message_goes_to_the_dead_letter_queue(rabbit: RabbitMQTransport) -> None:
    subscription = subscribe(rabbit, "catalog.#")
    rabbit.publish_batch([event_message()])
    with rabbit.consumer(subscription.queue, prefetch=10) as consumer:
        [delivery] = consumer.fetch(10, timeout=5)
        delivery.reject(requeue=False)
    with rabbit.consumer(subscription.dead_letter_queue) as dead:
        [dead_letter] = dead.fetch(1, timeout=5)
        assert dead_letter.headers["x-first-death-reason"] == "rejected"
        assert json.loads(dead_letter.body) == {"n": 1}
        dead_letter.ack()


def test_message_requeued_past_the_delivery_limit_is_dead_lettered(
    rabbit: RabbitMQTransport,
) -> None:
    subscription = subscribe(rabbit, "catalog.#")  # delivery_limit=2 in the fixture
    rabbit.publish_batch([event_message()])
    counts = []
    with rabbit.consumer(subscription.queue, prefetch=1) as consumer:
        for _ in range(5):
            deliveries = consumer.fetch(1, timeout=2)
            if not deliveries:
                break
            counts.append(deliveries[0].delivery_count)
            deliveries[0].reject(requeue=True)
    assert counts == [0, 1, 2]
    with rabbit.consumer(subscription.dead_letter_queue) as dead:
        [dead_letter] = dead.fetch(1, timeout=5)
        assert dead_letter.headers["x-first-death-reason"] == "delivery_limit"
        dead_letter.ack()


def test_consumer_fetches_in_publication_order_and_acks_in_bulk(
    rabbit: RabbitMQTransport,
) -> None:
    subscription = subscribe(rabbit, "catalog.#")
    rabbit.publish_batch([event_message(n=i) for i in range(300)])
    seen = []
    with rabbit.consumer(subscription.queue, prefetch=100) as consumer:
        while len(seen) < 300:
            batch = consumer.fetch(100, timeout=5)
            assert batch, "messages stopped arriving"
            seen += [json.loads(d.body)["n"] for d in batch]
            consumer.ack_many(batch)
    assert seen == list(range(300))
    assert rabbit.queue_depth(subscription.queue) == 0


def test_unreachable_broker_raises_transport_error(rabbit_settings: TransportSettings) -> None:
    settings = dataclasses.replace(
        rabbit_settings, url=f"amqp://guest:guest@127.0.0.1:{free_port()}//", connect_timeout=1
    )
    transport = RabbitMQTransport(settings)
    with pytest.raises(TransportError):
        transport.publish_batch([event_message()])


def test_depth_of_a_missing_queue_names_setup_broker(rabbit: RabbitMQTransport) -> None:
    with pytest.raises(QueueNotFound, match="setup_broker"):
        rabbit.queue_depth("no-such-queue-for-strangler-tests")
