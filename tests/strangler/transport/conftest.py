"""Transports under test: RabbitMQ with a private exchange per test, embedded in tmp_path."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import amqp
import pytest

from strangler.contracts.envelope import Envelope
from strangler.transport.base import OutgoingMessage, Subscription
from strangler.transport.conf import TransportSettings, transport_settings
from strangler.transport.embedded import EmbeddedTransport
from strangler.transport.rabbitmq import RabbitMQTransport


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def delete_exchanges(url: str, *exchanges: str) -> None:
    """Remove a test's private exchanges from the shared RabbitMQ."""
    parts = url.split("://", 1)[1]
    credentials, _, hostpart = parts.rpartition("@")
    user, _, password = credentials.partition(":")
    host = hostpart.split("/", 1)[0]
    connection = amqp.Connection(host, userid=user or "guest", password=password or "guest")
    connection.connect()
    try:
        channel = connection.channel()
        for exchange in exchanges:
            channel.exchange_delete(exchange)
    finally:
        connection.close()


def event_message(event_type: str = "catalog.product.upserted", **data: object) -> OutgoingMessage:
    envelope = Envelope.new(
        type=event_type, source="tests", data=data or {"n": 1}, subject="1", aggregateversion=1
    )
    return OutgoingMessage(envelope.id, event_type, envelope.to_message())


@pytest.fixture
def rabbit_settings(rabbitmq_url: str) -> Iterator[TransportSettings]:
    settings = dataclasses.replace(
        transport_settings(),
        url=rabbitmq_url,
        exchange=unique("test.events"),
        confirm_timeout=10.0,
        delivery_limit=2,
    )
    yield settings
    delete_exchanges(rabbitmq_url, *(settings.exchange_of(s) for s in settings.known_sides))


@pytest.fixture
def rabbit(rabbit_settings: TransportSettings) -> Iterator[RabbitMQTransport]:
    transport = RabbitMQTransport(rabbit_settings)
    subscriptions: list[Subscription] = []
    transport.created = subscriptions  # type: ignore[attr-defined]
    yield transport
    for subscription in subscriptions:
        transport.delete_subscription(subscription)
    transport.close()
    delete_exchanges(
        rabbit_settings.url,
        *(transport.subscriber_exchange(s.subscriber) for s in subscriptions),
    )


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedTransport]:
    settings = dataclasses.replace(
        transport_settings(), url="filesystem://", data_folder=tmp_path / "broker", delivery_limit=2
    )
    transport = EmbeddedTransport(settings)
    transport.created = []  # type: ignore[attr-defined]
    yield transport
    transport.close()


def subscribe(transport: object, *binding_keys: str) -> Subscription:
    """Declare a fresh subscription on the transport; the fixture deletes it afterwards."""
    subscription = Subscription(unique("tests"), unique("tests.q"), tuple(binding_keys))
    transport.declare_subscription(subscription)  # type: ignore[attr-defined]
    transport.created.append(subscription)  # type: ignore[attr-defined]
    return subscription
