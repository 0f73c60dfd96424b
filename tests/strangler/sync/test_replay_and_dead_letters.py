"""Replay to one subscriber and dead-letter handling, against a real RabbitMQ."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from monolith.catalog.models import Product
from strangler.contracts.envelope import Envelope
from strangler.inbox.retries import DeadLetterReason, dead_letter_headers
from strangler.outbox.models import OutboxEvent
from strangler.transport import get_transport
from strangler.transport.base import OutgoingMessage, Subscription, Transport
from tests.processes import wait_until
from tests.strangler.sync.conftest import write_product


@pytest.fixture
def broker(rabbitmq_url: str) -> Iterator[tuple[Transport, Subscription, Subscription]]:
    """Two subscribers of catalog events on an exchange of this test only."""
    suffix = uuid.uuid4().hex[:8]
    first = Subscription(f"search-{suffix}", f"search-{suffix}.events", ("catalog.#",))
    second = Subscription(f"mail-{suffix}", f"mail-{suffix}.events", ("catalog.product.*",))
    subscriptions = [
        {"subscriber": s.subscriber, "queue": s.queue, "binding_keys": list(s.binding_keys)}
        for s in (first, second)
    ]
    transport_conf = {"URL": rabbitmq_url, "EXCHANGE": f"test-sync-{suffix}"}
    with override_settings(
        STRANGLER_TRANSPORT=transport_conf, STRANGLER_SUBSCRIPTIONS=subscriptions
    ):
        transport = get_transport()
        try:
            transport.declare_exchanges()
            for subscription in (first, second):
                transport.declare_subscription(subscription)
            yield transport, first, second
        finally:
            for subscription in (first, second):
                transport.delete_subscription(subscription)
            transport.close()


def published_products(count: int) -> list[OutboxEvent]:
    for index in range(count):
        write_product(sku=f"R-{index}", name=f"Replayed {index}")
    OutboxEvent.objects.update(published_at=timezone.now())
    return list(OutboxEvent.objects.order_by("id"))


def drain(transport: Transport, queue: str, expected: int) -> list[Envelope]:
    received: list[Envelope] = []
    with transport.consumer(queue, prefetch=500) as consumer:

        def collect() -> bool:
            for delivery in consumer.fetch(500, timeout=0.5):
                received.append(
                    Envelope.from_message(delivery.headers, delivery.content_type, delivery.body)
                )
                delivery.ack()
            return len(received) >= expected

        wait_until(collect, timeout=20, what=f"{expected} messages on {queue}")
    return received


@pytest.mark.rabbitmq
def test_replay_to_one_subscriber_is_not_seen_by_another(db, broker):
    transport, first, second = broker
    events = published_products(25)

    out = StringIO()
    call_command("replay_events", "--to", first.subscriber, "--json", stdout=out)

    summary = json.loads(out.getvalue())
    assert summary["events"] == 25
    received = drain(transport, first.queue, 25)
    assert [e.id for e in received] == [str(e.event_id) for e in events]  # in recorded order
    assert transport.queue_depth(second.queue) == 0


@pytest.mark.rabbitmq
def test_replay_filters_and_dry_run(db, broker):
    transport, first, _ = broker
    events = published_products(6)
    write_product(
        Product.objects.get(pk=events[2].subject), name="x"
    )  # one more event, not published yet: left out unless --include-pending
    out = StringIO()
    call_command(
        "replay_events",
        "--to",
        first.subscriber,
        "--aggregate",
        f"catalog.product:{events[2].subject}",
        "--dry-run",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue())["events"] == 1
    out = StringIO()
    call_command(
        "replay_events", "--to", first.subscriber, "--from-id", str(events[4].pk), stdout=out
    )
    assert "replayed 2 events" in out.getvalue()
    assert transport.queue_depth(first.queue) == 2
    with pytest.raises(CommandError, match="--since must be earlier"):
        call_command(
            "replay_events",
            "--to",
            first.subscriber,
            "--since",
            "2026-02-01",
            "--until",
            "2026-01-01",
        )
    with pytest.raises(CommandError, match="unknown subscriber 'nobody'"):
        call_command("replay_events", "--to", "nobody")


def test_replay_refuses_an_unknown_event_type_or_aggregate_naming_the_known_ones(db, broker):
    _, first, _ = broker
    published_products(1)
    with pytest.raises(CommandError) as refused:
        call_command("replay_events", "--to", first.subscriber, "--type", "nonexistent.type")
    assert "unknown event type 'nonexistent.type'" in str(refused.value)
    assert "catalog.product.upserted" in str(refused.value)
    with pytest.raises(CommandError) as refused:
        call_command("replay_events", "--to", first.subscriber, "--aggregate", "catalog.widget:1")
    assert "unknown aggregate 'catalog.widget'" in str(refused.value)
    assert "catalog.product" in str(refused.value)


def dead_letter(transport: Transport, subscription: Subscription, event: OutboxEvent) -> None:
    """Put an event in the dead-letter queue as the inbox consumer does after its last attempt."""
    headers = dead_letter_headers(
        reason=DeadLetterReason.ATTEMPTS_EXHAUSTED,
        error="IntegrityError: handler bug",
        attempts=5,
        subscriber=subscription.subscriber,
        queue=subscription.queue,
        original_routing_key=event.event_type,
    )
    message = OutgoingMessage(
        message_id=str(event.event_id),
        routing_key=subscription.dead_letter_queue,
        message=event.to_envelope().to_message(),
        exchange="",
        extra_headers=headers,
    )
    assert transport.publish_batch([message])[0].confirmed


def dead_letters(subscriber: str, *args: str) -> dict:
    out = StringIO()
    call_command("dead_letters", "--subscriber", subscriber, "--json", *args, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.rabbitmq
def test_dead_letters_are_listed_shown_requeued_and_purged(db, broker):
    transport, first, _ = broker
    events = published_products(4)
    for event in events:
        dead_letter(transport, first, event)
    dead = first.dead_letter_queue
    wait_until(lambda: transport.queue_depth(dead) == 4, timeout=10, what="4 dead letters")

    listing = dead_letters(first.subscriber, "list")
    assert listing["depth"] == 4
    assert [d["id"] for d in listing["dead_letters"]] == [str(e.event_id) for e in events]
    assert listing["dead_letters"][0]["attempts"] == 5
    assert "handler bug" in listing["dead_letters"][0]["error"]
    wait_until(lambda: transport.queue_depth(dead) == 4, timeout=10, what="listing removes nothing")

    shown = dead_letters(first.subscriber, "show", str(events[1].event_id))
    assert shown["data"]["sku"] == "R-1"

    requeued = dead_letters(
        first.subscriber,
        "requeue",
        "--id",
        str(events[0].event_id),
        "--id",
        str(events[2].event_id),
    )
    assert requeued["count"] == 2
    back = drain(transport, first.queue, 2)
    assert [e.id for e in back] == [str(events[0].event_id), str(events[2].event_id)]
    wait_until(lambda: transport.queue_depth(dead) == 2, timeout=10, what="2 left dead")

    with pytest.raises(CommandError, match="--yes"):
        dead_letters(first.subscriber, "purge", "--all")
    assert dead_letters(first.subscriber, "purge", "--all", "--yes")["count"] == 2
    wait_until(lambda: transport.queue_depth(dead) == 0, timeout=10, what="an empty queue")
    with pytest.raises(CommandError, match="say which dead letters"):
        dead_letters(first.subscriber, "requeue")
