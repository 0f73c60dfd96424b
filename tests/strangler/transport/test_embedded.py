"""The embedded transport: durable ordered files, topology shared between processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from strangler.transport.embedded import EmbeddedTransport, QueueNotFound
from tests.processes import ROOT, wait_until
from tests.strangler.transport.conftest import event_message, subscribe


def run_in_other_process(folder: Path, code: str) -> subprocess.Popen[bytes]:
    """Run code with an EmbeddedTransport `transport` over folder in a fresh interpreter."""
    script = textwrap.dedent(
        f"""
        import dataclasses, os, sys
        os.environ["DJANGO_SETTINGS_MODULE"] = "monolith.config.settings"
        import django
        django.setup()
        from strangler.transport.conf import transport_settings
        from strangler.transport.embedded import EmbeddedTransport
        from strangler.transport.base import Subscription
        settings = dataclasses.replace(transport_settings(), url="filesystem://",
                                       data_folder={str(folder)!r})
        transport = EmbeddedTransport(settings)
        """
    ) + textwrap.dedent(code)
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE)


def test_binding_declared_by_another_process_routes_messages(embedded: EmbeddedTransport) -> None:
    # kombu's own filesystem transport would drop this message: the exchange type of a topic
    # exchange declared in another process is unknown here, so it is treated as direct.
    other = run_in_other_process(
        embedded.folder,
        """
        transport.declare_subscription(Subscription("svc", "svc.events", ("catalog.#",)))
        """,
    )
    assert other.wait(60) == 0
    outcomes = embedded.publish_batch([event_message(), event_message("orders.order.placed")])
    assert [o.confirmed for o in outcomes] == [True, False]
    assert "unroutable" in outcomes[1].error
    assert embedded.queue_depth("svc.events") == 1


def test_messages_arrive_in_publication_order_with_their_attributes(
    embedded: EmbeddedTransport,
) -> None:
    subscription = subscribe(embedded, "catalog.#")
    messages = [event_message(n=i) for i in range(500)]
    embedded.publish_batch(messages[:250])
    embedded.publish_batch(messages[250:])
    received = []
    with embedded.consumer(subscription.queue, prefetch=100) as consumer:
        while len(received) < 500:
            batch = consumer.fetch(100, timeout=2)
            assert batch, "messages stopped arriving"
            received += batch
            consumer.ack_many(batch)
    assert [json.loads(d.body)["n"] for d in received] == list(range(500))
    first = received[0]
    assert first.headers == messages[0].message.headers
    assert first.content_type == "application/json"
    assert embedded.queue_depth(subscription.queue) == 0


def test_rejected_and_over_limit_messages_are_dead_lettered(embedded: EmbeddedTransport) -> None:
    subscription = subscribe(embedded, "catalog.#")  # delivery_limit=2 in the fixture
    embedded.publish_batch([event_message(n=1), event_message(n=2)])
    with embedded.consumer(subscription.queue) as consumer:
        first, second = consumer.fetch(2, timeout=2)
        first.reject(requeue=False)
        second.reject(requeue=True)
        counts = [second.delivery_count]
        for _ in range(2):
            [again] = consumer.fetch(1, timeout=2)
            counts.append(again.delivery_count)
            again.reject(requeue=True)
        assert consumer.fetch(1, timeout=0.1) == []
    assert counts == [0, 1, 2]
    with embedded.consumer(subscription.dead_letter_queue) as dead:
        letters = dead.fetch(10, timeout=2)
        assert [d.headers["x-first-death-reason"] for d in letters] == [
            "rejected",
            "delivery_limit",
        ]
        dead.ack_many(letters)


def test_messages_of_a_killed_consumer_are_delivered_again(embedded: EmbeddedTransport) -> None:
    subscription = subscribe(embedded, "catalog.#")
    embedded.publish_batch([event_message(n=i) for i in range(3)])
    other = run_in_other_process(
        embedded.folder,
        f"""
        consumer = transport.consumer({subscription.queue!r})
        assert len(consumer.fetch(3, timeout=5)) == 3
        print("fetched", flush=True)
        import time
        time.sleep(60)  # killed here, before any ack
        """,
    )
    assert other.stdout.readline().strip() == b"fetched"
    assert embedded.queue_depth(subscription.queue) == 0
    other.send_signal(signal.SIGKILL)
    other.wait(10)
    with embedded.consumer(subscription.queue) as consumer:
        deliveries = wait_until(lambda: consumer.fetch(3, timeout=0.5), timeout=10)
        assert [json.loads(d.body)["n"] for d in deliveries] == [0, 1, 2]
        assert all(d.redelivered for d in deliveries)
        consumer.ack_many(deliveries)


def test_consuming_an_undeclared_queue_names_setup_broker(embedded: EmbeddedTransport) -> None:
    with pytest.raises(QueueNotFound, match="not declared"):
        embedded.consumer("nobody")
