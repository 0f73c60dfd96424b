"""The relay on PostgreSQL and RabbitMQ: delivery, broker outage, crash, concurrent relays."""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import amqp
import pytest
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from django.core.management import call_command
from django.db import connection

from strangler.outbox.models import OutboxEvent
from strangler.outbox.relay import OutboxRelay
from strangler.transport.conf import TransportSettings
from strangler.transport.rabbitmq import RabbitMQTransport
from tests.processes import PYTHON, ProcessGroup, base_env, process_group, wait_until
from tests.strangler.outbox.conftest import bulk_pending_events, product, record_products
from tests.strangler.outbox.tcp_proxy import CuttableProxy
from tests.strangler.transport.conftest import subscribe

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    with process_group(tmp_path) as group:
        yield group


def relay_env() -> dict[str, str]:
    """The subprocess relay uses the test database (pytest-django's test_<name>)."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return base_env(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="monolith.config.settings")


def relay_argv(broker_url: str, exchange: str, *extra: str) -> list[str]:
    return [
        PYTHON,
        "-m",
        "tests.strangler.outbox.relay_process",
        "--broker-url",
        broker_url,
        "--exchange",
        exchange,
        *extra,
    ]


def pending() -> int:
    return OutboxEvent.objects.filter(published_at__isnull=True).count()


def test_relay_delivers_cloudevents_as_persistent_messages(
    rabbit: RabbitMQTransport, rabbitmq_url: str
) -> None:
    sub = subscribe(rabbit, "catalog.#")
    [event] = record_products((5, "12.50"))
    assert OutboxRelay(transport=rabbit).publish_all_pending().published == 1

    parts = urlsplit(rabbitmq_url)
    with amqp.Connection(f"{parts.hostname}:{parts.port or 5672}") as plain:
        message = plain.channel().basic_get(sub.queue, no_ack=True)
    assert message.properties["delivery_mode"] == 2
    headers = message.properties["application_headers"]
    assert headers["ce-id"] == str(event.event_id)
    assert headers["ce-aggregateversion"] == "1"
    cloudevent = from_binary(
        RabbitMQMessage(headers, message.properties["content_type"], message.body), JSONFormat()
    )
    assert cloudevent.get_type() == "catalog.product.upserted"
    assert cloudevent.get_source() == "monolith"
    assert cloudevent.get_subject() == "5"
    assert cloudevent.get_datacontenttype() == "application/json"
    assert cloudevent.get_extension("dataversion") == "2"  # the schema's newest version
    assert cloudevent.get_data() == product(5, price="12.50")
    event.refresh_from_db()
    assert event.published_at is not None


def test_broker_outage_marks_nothing_and_everything_arrives_after_it_returns(
    rabbit: RabbitMQTransport,
    rabbit_settings: TransportSettings,
    rabbitmq_url: str,
    processes: ProcessGroup,
) -> None:
    sub = subscribe(rabbit, "catalog.#")
    parts = urlsplit(rabbitmq_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    try:
        proxied = f"amqp://guest:guest@127.0.0.1:{proxy.port}//"
        relay = processes.start(
            "relay",
            relay_argv(proxied, rabbit_settings.exchange, "--sweep-interval", "0.2"),
            relay_env(),
        )
        wait_until(lambda: "outbox relay running" in relay.log(), timeout=60, what="relay up")
        record_products((1, "1.00"))
        wait_until(lambda: pending() == 0, timeout=30, what="first event published")

        proxy.cut()
        record_products(*[(n % 5 + 1, f"{n}.00") for n in range(50)])
        wait_until(lambda: "broker unavailable" in relay.log(), timeout=30, what="outage seen")
        assert pending() == 50
        assert rabbit.queue_depth(sub.queue) == 1

        proxy.restore()
        wait_until(lambda: pending() == 0, timeout=60, what="backlog published after return")
        assert relay.alive(), "the relay must survive the outage without a restart"
        wait_until(lambda: rabbit.queue_depth(sub.queue) >= 51, timeout=10)
        assert relay.stop() == 0
    finally:
        proxy.close()


def test_relay_killed_between_confirm_and_mark_republishes_with_the_same_ids(
    rabbit: RabbitMQTransport,
    rabbit_settings: TransportSettings,
    rabbitmq_url: str,
    processes: ProcessGroup,
    settings: object,
) -> None:
    sub = subscribe(rabbit, "catalog.#")
    events = record_products((1, "1.00"), (2, "1.00"), (1, "2.00"))
    killer = processes.start(
        "killed-relay",
        relay_argv(rabbitmq_url, rabbit_settings.exchange, "--kill-after-confirm"),
        relay_env(),
    )
    assert killer.wait_exit(60) == -signal.SIGKILL, killer.log()
    assert pending() == 3  # confirmed by the broker, never marked
    assert rabbit.queue_depth(sub.queue) == 3

    settings.STRANGLER_TRANSPORT = {  # type: ignore[attr-defined]
        "URL": rabbitmq_url,
        "EXCHANGE": rabbit_settings.exchange,
    }
    call_command("outbox_relay", "--once")
    assert pending() == 0
    with rabbit.consumer(sub.queue) as consumer:
        deliveries = consumer.fetch(10, timeout=5)
        deliveries += consumer.fetch(10, timeout=0.5)
        consumer.ack_many(deliveries)
    ids = [d.headers["ce-id"] for d in deliveries]
    expected = [str(e.event_id) for e in events]
    assert ids == expected + expected


def test_two_relays_deliver_10000_events_keeping_each_aggregates_order(
    rabbit: RabbitMQTransport,
    rabbit_settings: TransportSettings,
    rabbitmq_url: str,
    processes: ProcessGroup,
) -> None:
    sub = subscribe(rabbit, "catalog.#")
    relays = [
        processes.start(
            f"relay-{n}",
            relay_argv(rabbitmq_url, rabbit_settings.exchange, "--json", "--batch-size", "250"),
            relay_env(),
        )
        for n in (1, 2)
    ]
    for relay in relays:
        wait_until(lambda r=relay: "outbox relay running" in r.log(), timeout=60)
    total = bulk_pending_events(aggregates=100, per_aggregate=100)
    # bulk_create sends no NOTIFY: the relays find the rows on their sweep.
    assert total == 10_000

    versions: dict[str, list[int]] = defaultdict(list)
    received = 0
    with rabbit.consumer(sub.queue, prefetch=1000) as consumer:

        def consume() -> bool:
            nonlocal received
            batch = consumer.fetch(1000, timeout=1)
            for delivery in batch:
                versions[delivery.headers["ce-subject"]].append(
                    int(delivery.headers["ce-aggregateversion"])
                )
            consumer.ack_many(batch)
            received += len(batch)
            return received >= total

        wait_until(consume, timeout=180, interval=0, what="10,000 events")
    # Messages arrive before the relay's mark commits: give the last batch its commit.
    wait_until(lambda: pending() == 0, timeout=30, what="every row marked published")
    assert len(versions) == 100
    for subject, arrived in versions.items():
        assert arrived == list(range(1, 101)), f"aggregate {subject} arrived out of order"

    published = []
    for relay in relays:
        assert relay.stop() == 0, relay.log()
        published.append(json.loads(relay.log().strip().splitlines()[-1])["published"])
    assert sum(published) == total
    assert all(count > 0 for count in published), f"one relay did all the work: {published}"
