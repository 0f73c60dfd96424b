"""One broker user per side on RabbitMQ: each side writes its own exchange and reads its own
queues, and the broker refuses the rest (ACCESS_REFUSED)."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.core.management import call_command
from django.test import override_settings

from strangler.transport.base import OutgoingMessage, Subscription, TransportError
from strangler.transport.conf import TransportSettings, transport_settings
from strangler.transport.rabbitmq import RabbitMQTransport
from tests.servers import require_tool
from tests.strangler.transport.conftest import event_message

pytestmark = pytest.mark.rabbitmq

SIDES = ("monolith", "catalog-service")


@dataclass
class Broker:
    """A vhost of this test, the operator's URL on it, and the broker URL of each side's user."""

    rabbitmqctl: str
    vhost: str
    operator_url: str
    exchange: str
    queues: dict[str, str]
    side_urls: dict[str, str] = dataclasses.field(default_factory=dict)
    users: list[str] = dataclasses.field(default_factory=list)

    def settings(self, side: str, url: str) -> TransportSettings:
        return dataclasses.replace(
            transport_settings(),
            url=url,
            exchange=self.exchange,
            side=side,
            writers={"catalog": tuple(sorted(SIDES))},
            queue_type="quorum",
        )

    def subscription(self, side: str) -> Subscription:
        return Subscription(side, self.queues[side], ("catalog.#",))

    def transport_of(self, side: str) -> RabbitMQTransport:
        """A transport that connects as the side's own broker user."""
        return RabbitMQTransport(self.settings(side, self.side_urls[side]))


def ctl(rabbitmqctl: str, *arguments: str) -> None:
    subprocess.run([rabbitmqctl, *arguments], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def broker(rabbitmq_url: str) -> Iterator[Broker]:
    """A vhost and users of this module (h1_ names), removed at the end whatever happened.

    Module-wide: each rabbitmqctl call starts an Erlang VM, so the users are made once."""
    rabbitmqctl = require_tool("rabbitmqctl", "rabbitmq-server")
    suffix = uuid.uuid4().hex[:8]
    vhost = f"h1_users_{suffix}"
    ctl(rabbitmqctl, "add_vhost", vhost)
    parts = urlsplit(rabbitmq_url)
    operator_url = urlunsplit(parts._replace(path=f"/{quote(vhost, safe='')}"))
    operator = rabbitmq_url.split("://", 1)[1].split(":", 1)[0] or "guest"
    ctl(rabbitmqctl, "set_permissions", "-p", vhost, operator, ".*", ".*", ".*")
    state = Broker(
        rabbitmqctl=rabbitmqctl,
        vhost=vhost,
        operator_url=operator_url,
        exchange=f"h1.events.{suffix}",
        queues={side: f"h1.{side}.{suffix}" for side in SIDES},
    )
    try:
        yield state
    finally:
        for user in state.users:
            subprocess.run([rabbitmqctl, "delete_user", user], capture_output=True, timeout=60)
        ctl(rabbitmqctl, "delete_vhost", vhost)


def setup_side(broker: Broker, side: str, password: str) -> str:
    """Run `setup_broker --users` as the operator, as that side's settings; its printed URL."""
    user = f"h1_{side}_{broker.vhost[-8:]}"
    broker.users.append(user)
    out = io.StringIO()
    with (
        pytest.MonkeyPatch.context() as env,
        override_settings(
            STRANGLER_SERVICE_NAME=side,
            STRANGLER_TRANSPORT={
                "URL": broker.operator_url,
                "EXCHANGE": broker.exchange,
                "QUEUE_TYPE": "quorum",
            },
            STRANGLER_OWNERSHIP={
                "CONTEXTS": {
                    "catalog": {"service": "catalog-service", "default_writer": "monolith"}
                }
            },
            STRANGLER_SUBSCRIPTIONS=[
                {"subscriber": side, "queue": broker.queues[side], "binding_keys": ["catalog.#"]}
            ],
        ),
    ):
        if password:
            env.setenv("STRANGLER_BROKER_PASSWORD", password)
        else:
            env.delenv("STRANGLER_BROKER_PASSWORD", raising=False)
        call_command(
            "setup_broker",
            "--users",
            "--user",
            user,
            "--rabbitmqctl",
            broker.rabbitmqctl,
            stdout=out,
        )
    (line,) = [x for x in out.getvalue().splitlines() if x.startswith("STRANGLER_BROKER_URL=")]
    url = line.split("=", 1)[1]
    if password:
        assert f":{password}@" in url
    broker.side_urls[side] = url
    return url


@pytest.fixture(scope="module")
def two_sides(broker: Broker) -> Broker:
    setup_side(broker, "monolith", password="")  # generated, printed once
    setup_side(broker, "catalog-service", password=f"pw-{uuid.uuid4().hex}")
    return broker


def read_one(transport: RabbitMQTransport, queue: str) -> list[bytes]:
    with transport.consumer(queue, prefetch=10) as consumer:
        deliveries = consumer.fetch(10, timeout=5.0)
        for delivery in deliveries:
            delivery.ack()
    return [d.body for d in deliveries]


def test_a_side_publishes_to_its_own_exchange_and_the_subscribing_side_receives(
    two_sides: Broker,
) -> None:
    message = event_message("catalog.product.upserted", id=7)
    with two_sides.transport_of("catalog-service") as catalog:
        # What consume_events does first: its own subscription, declared with its own user.
        catalog.declare_subscription(two_sides.subscription("catalog-service"))
        (outcome,) = catalog.publish_batch([message])
        assert outcome.confirmed, outcome.error
    with two_sides.transport_of("monolith") as monolith:
        monolith.declare_subscription(two_sides.subscription("monolith"))
        assert read_one(monolith, two_sides.queues["monolith"]) == [message.message.body]


def test_a_side_is_refused_when_it_publishes_to_another_sides_exchange(
    two_sides: Broker,
) -> None:
    monolith_exchange = two_sides.settings("monolith", "").exchange_of("monolith")
    forged = dataclasses.replace(
        event_message("catalog.product.upserted", id=8), exchange=monolith_exchange
    )
    with two_sides.transport_of("catalog-service") as catalog:
        with pytest.raises(TransportError, match="ACCESS_REFUSED"):
            catalog.publish_batch([forged])
        # Nor through the default exchange, straight into the other side's queue.
        direct = dataclasses.replace(forged, exchange="", routing_key=two_sides.queues["monolith"])
        with pytest.raises(TransportError, match="ACCESS_REFUSED"):
            catalog.publish_batch([direct])
    with RabbitMQTransport(two_sides.settings("monolith", two_sides.operator_url)) as operator:
        assert operator.queue_depth(two_sides.queues["monolith"]) == 0


def test_a_side_is_refused_when_it_consumes_another_sides_queue(two_sides: Broker) -> None:
    with two_sides.transport_of("catalog-service") as catalog:
        with pytest.raises(TransportError, match="ACCESS_REFUSED"):
            read_one(catalog, two_sides.queues["monolith"])
        with pytest.raises(TransportError, match="ACCESS_REFUSED"):
            read_one(catalog, f"{two_sides.queues['monolith']}.dead")


def test_a_side_reaches_its_own_queues_by_name_for_retries_and_dead_letters(
    two_sides: Broker,
) -> None:
    side = "catalog-service"
    dead = two_sides.subscription(side).dead_letter_queue
    with two_sides.transport_of(side) as catalog:
        copy = dataclasses.replace(
            event_message("catalog.product.upserted", id=9),
            exchange=catalog.subscriber_exchange(side),
            routing_key=dead,
        )
        (outcome,) = catalog.publish_batch([copy])
        assert outcome.confirmed, outcome.error
        assert read_one(catalog, dead) == [copy.message.body]


def test_a_side_cannot_reach_another_sides_queues_through_its_subscriber_exchange(
    two_sides: Broker,
) -> None:
    with two_sides.transport_of("catalog-service") as catalog:
        other = OutgoingMessage(
            message_id=str(uuid.uuid4()),
            routing_key=two_sides.queues["monolith"],
            message=event_message().message,
            exchange=catalog.subscriber_exchange("monolith"),
        )
        with pytest.raises(TransportError, match="ACCESS_REFUSED"):
            catalog.publish_batch([other])
