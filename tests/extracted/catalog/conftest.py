"""Fixtures of the catalog service's tests: catalog events, and real transports to consume from."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from strangler.contracts.envelope import Envelope
from strangler.inbox.conf import InboxSettings, inbox_settings
from strangler.transport import get_transport
from strangler.transport.base import OutgoingMessage, Transport
from strangler.transport.conf import transport_settings

_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)


def product_data(product_id: int, version: int, **changes: Any) -> dict[str, Any]:
    """A valid catalog.product.upserted v1 payload whose fields depend on the version."""
    data = {
        "id": product_id,
        "sku": f"SKU-{product_id}",
        "name": f"Product {product_id} v{version}",
        "description": f"revision {version}",
        "price": f"{product_id + version}.{version % 100:02d}",
        "currency": "EUR",
        "category_id": None,
        "active": version % 3 != 0,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": (_T0 + timedelta(seconds=version)).isoformat().replace("+00:00", "Z"),
    }
    data.update(changes)
    return data


def category_data(category_id: int, version: int, **changes: Any) -> dict[str, Any]:
    data = {
        "id": category_id,
        "name": f"Category {category_id} v{version}",
        "slug": f"category-{category_id}",
        "parent_id": None,
    }
    data.update(changes)
    return data


def catalog_event(
    aggregate: str,
    verb: str,
    aggregate_id: int,
    version: int,
    data: dict[str, Any] | None = None,
    *,
    source: str = "monolith",
    event_id: str | None = None,
) -> Envelope:
    """A catalog state-transfer event as the monolith's outbox relay publishes it."""
    if data is None:
        if verb == "deleted":
            data = {"id": aggregate_id}
        elif aggregate == "product":
            data = product_data(aggregate_id, version)
        else:
            data = category_data(aggregate_id, version)
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=f"catalog.{aggregate}.{verb}",
        data=data,
        subject=str(aggregate_id),
        time=datetime.now(UTC),
        dataversion=1,
        aggregateversion=version,
    )


@pytest.fixture
def make_event() -> Callable[..., Envelope]:
    return catalog_event


@dataclasses.dataclass
class Broker:
    """A real transport with a queue of its own, the inbox settings that read it, and helpers."""

    transport: Transport
    inbox: InboxSettings

    def publish(self, *envelopes: Envelope) -> None:
        outcomes = self.transport.publish_batch(
            [OutgoingMessage(e.id, e.type, e.to_message()) for e in envelopes]
        )
        assert all(o.confirmed for o in outcomes), outcomes

    def publish_raw(self, message_id: str, headers: dict[str, str], body: bytes) -> None:
        from strangler.contracts.envelope import TransportMessage

        (outcome,) = self.transport.publish_batch(
            [
                OutgoingMessage(
                    message_id,
                    self.inbox.queue,
                    TransportMessage(headers, "application/json", body),
                    exchange="",
                )
            ]
        )
        assert outcome.confirmed, outcome

    def depth(self, queue: str | None = None) -> int:
        return self.transport.queue_depth(queue or self.inbox.queue)

    def dead_letters(self) -> list[Any]:
        """Every message of the dead-letter queue (taken and acked: the test owns the queue)."""
        with self.transport.consumer(self.inbox.subscription.dead_letter_queue) as consumer:
            taken: list[Any] = []
            while batch := consumer.fetch(100, 0.5):
                taken.extend(batch)
            for delivery in taken:
                delivery.ack()
        return taken


@pytest.fixture(params=["embedded", "rabbitmq"])
def broker(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Broker]:
    """The embedded filesystem transport in tmp_path, or RabbitMQ with a unique exchange/queue."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    if request.param == "rabbitmq":
        url = request.getfixturevalue("rabbitmq_url")
        settings = dataclasses.replace(
            transport_settings(), url=url, exchange=f"{name}.events", queue_type="quorum"
        )
    else:
        settings = dataclasses.replace(
            transport_settings(), url="filesystem://", data_folder=tmp_path / "broker"
        )
    inbox = inbox_settings(
        queue=f"{name}.catalog",
        binding_keys=("catalog.#",),
        retry_backoff=0.05,
        retry_backoff_max=0.2,
        max_attempts=3,
        fetch_timeout=0.3,
        database_retry_backoff=0.1,
    )
    transport = get_transport(settings)
    transport.declare_subscription(inbox.subscription)
    try:
        yield Broker(transport, inbox)
    finally:
        if request.param == "rabbitmq":
            transport.delete_subscription(inbox.subscription)
        transport.close()


@pytest.fixture
def transport_factory(broker: Broker) -> Callable[[], Transport]:
    """A factory of new transports with the broker fixture's settings (one per consumer run)."""
    settings = broker.transport.settings  # type: ignore[attr-defined]
    return lambda: get_transport(settings)
