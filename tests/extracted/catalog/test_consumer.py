"""The inbox consumer against real transports (embedded filesystem and RabbitMQ) and a real DB."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection

from extracted.catalog.catalog.handlers import HANDLERS, apply_products_upserted
from extracted.catalog.catalog.models import Product
from strangler.contracts.envelope import Envelope
from strangler.inbox import metrics
from strangler.inbox.consumer import InboxConsumer
from strangler.inbox.handlers import batch_handler
from strangler.inbox.models import InboxRecord
from strangler.inbox.retries import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER,
    REASON_HEADER,
    DeadLetterReason,
)
from strangler.transport.base import Transport
from tests.extracted.catalog.conftest import Broker, catalog_event, product_data
from tests.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def consume(
    broker: Broker,
    factory: Callable[[], Transport],
    handlers: dict[str, Any] | None = None,
    **overrides: Any,
) -> InboxConsumer:
    settings = broker.inbox if not overrides else _with(broker, **overrides)
    consumer = InboxConsumer(transport_factory=factory, settings=settings, handlers=handlers)
    consumer.run(once=True)
    return consumer


def _with(broker: Broker, **overrides: Any) -> Any:
    import dataclasses

    return dataclasses.replace(broker.inbox, **overrides)


def test_batch_is_applied_then_acked(broker: Broker, transport_factory: Any) -> None:
    events = [catalog_event("product", "upserted", pid, 1) for pid in range(1, 51)]
    broker.publish(*events)

    consumer = consume(broker, transport_factory, batch_size=20)

    assert Product.objects.count() == 50
    assert consumer.stats.outcomes["applied"] == 50
    assert consumer.stats.batches == 3
    assert broker.depth() == 0


def test_redelivered_events_change_nothing(broker: Broker, transport_factory: Any) -> None:
    events = [catalog_event("product", "upserted", pid, 1) for pid in range(1, 6)]
    broker.publish(*events)
    consume(broker, transport_factory)
    broker.publish(*events)  # the relay crashed before marking them published

    consumer = consume(broker, transport_factory)

    assert consumer.stats.outcomes["duplicate"] == 5
    assert InboxRecord.objects.count() == 5


def test_reordered_events_keep_the_newest_version(broker: Broker, transport_factory: Any) -> None:
    broker.publish(
        catalog_event("product", "upserted", 1, 3),
        catalog_event("product", "deleted", 2, 2),
        catalog_event("product", "upserted", 1, 2),
        catalog_event("product", "upserted", 2, 1),
    )
    consumer = consume(broker, transport_factory)

    assert consumer.stats.outcomes["stale"] == 2
    assert Product.objects.get(pk=1).name == "Product 1 v3"
    assert not Product.objects.filter(pk=2).exists()


def test_failing_event_is_retried_then_dead_lettered_while_later_events_flow(
    broker: Broker, transport_factory: Any
) -> None:
    calls: list[int] = []

    def refuse_product_13(event: Envelope) -> None:
        calls.append(event.data["id"])
        if event.data["id"] == 13:
            raise RuntimeError("product 13 cannot be applied")
        apply_products_upserted([event])

    handlers = {**HANDLERS, "catalog.product.upserted": refuse_product_13}
    broker.publish(*[catalog_event("product", "upserted", pid, 1) for pid in range(10, 20)])

    consumer = consume(broker, transport_factory, handlers=handlers, batch_size=5)

    assert sorted(Product.objects.values_list("pk", flat=True)) == [
        pid for pid in range(10, 20) if pid != 13
    ]
    assert calls.count(13) == 1 + broker.inbox.max_attempts  # in the batch, then once per attempt
    assert consumer.stats.outcomes["failed"] == broker.inbox.max_attempts
    (dead,) = broker.dead_letters()
    assert dead.headers[REASON_HEADER] == DeadLetterReason.ATTEMPTS_EXHAUSTED
    assert dead.headers[ERROR_HEADER] == "RuntimeError: product 13 cannot be applied"
    assert int(dead.headers[ATTEMPTS_HEADER]) == broker.inbox.max_attempts
    assert dead.headers[ORIGINAL_ROUTING_KEY_HEADER] == "catalog.product.upserted"
    assert Envelope.from_message(dead.headers, dead.content_type, dead.body).data["id"] == 13


def test_failing_batch_handler_fails_only_the_bad_event(
    broker: Broker, transport_factory: Any
) -> None:
    calls: list[list[int]] = []

    @batch_handler
    def refuse_product_13(events: list[Envelope]) -> None:
        ids = [event.data["id"] for event in events]
        calls.append(ids)
        if 13 in ids:
            raise RuntimeError("product 13 cannot be applied")
        apply_products_upserted(events)

    handlers = {**HANDLERS, "catalog.product.upserted": refuse_product_13}
    broker.publish(*[catalog_event("product", "upserted", pid, 1) for pid in range(10, 20)])

    consumer = consume(broker, transport_factory, handlers=handlers, batch_size=5, max_attempts=2)

    assert sorted(Product.objects.values_list("pk", flat=True)) == [
        pid for pid in range(10, 20) if pid != 13
    ]
    assert [10, 11, 12, 13, 14] in calls  # the whole run in one call first
    assert [11] in calls and [14] in calls  # then, after the batch failed, one event per call
    assert consumer.stats.outcomes["failed"] == 2
    (dead,) = broker.dead_letters()
    assert dead.headers[ERROR_HEADER] == "RuntimeError: product 13 cannot be applied"


def test_transient_failure_is_retried_until_it_succeeds(
    broker: Broker, transport_factory: Any
) -> None:
    failures = {"left": 2}

    def flaky(event: Envelope) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionResetError("search index unavailable")
        apply_products_upserted([event])

    broker.publish(catalog_event("product", "upserted", 7, 1))
    consumer = consume(broker, transport_factory, {**HANDLERS, "catalog.product.upserted": flaky})

    assert Product.objects.filter(pk=7).exists()
    assert consumer.stats.outcomes["failed"] == 2
    assert broker.dead_letters() == []


def test_malformed_event_and_unknown_version_are_dead_lettered_at_once(
    broker: Broker, transport_factory: Any
) -> None:
    good = catalog_event("product", "upserted", 1, 1)
    unknown = catalog_event("product", "upserted", 2, 1).to_message()
    broker.publish_raw("malformed", {"ce-type": "catalog.product.upserted"}, b"{}")
    broker.publish_raw("unknown", {**unknown.headers, "ce-dataversion": "7"}, unknown.body)
    broker.publish(good)
    dead_before = metrics.EVENTS.labels(broker.inbox.subscriber, "dead_lettered")._value.get()

    consumer = consume(broker, transport_factory)

    assert list(Product.objects.values_list("pk", flat=True)) == [1]
    assert consumer.stats.outcomes["dead_lettered"] == 2
    assert consumer.stats.outcomes["failed"] == 0
    reasons = {d.headers[ERROR_HEADER].split(":")[0]: d for d in broker.dead_letters()}
    assert set(reasons) == {"EnvelopeError", "UnknownEventVersion"}
    assert (
        "missing required CloudEvents attribute" in reasons["EnvelopeError"].headers[ERROR_HEADER]
    )
    assert "no version 7" in reasons["UnknownEventVersion"].headers[ERROR_HEADER]
    assert all(d.headers[REASON_HEADER] == DeadLetterReason.INVALID for d in reasons.values())
    dead_after = metrics.EVENTS.labels(broker.inbox.subscriber, "dead_lettered")._value.get()
    assert dead_after - dead_before == 2


def test_contract_violation_is_dead_lettered_with_the_field(
    broker: Broker, transport_factory: Any
) -> None:
    broker.publish(catalog_event("product", "upserted", 1, 1, product_data(1, 1, currency="eur")))
    consume(broker, transport_factory)
    (dead,) = broker.dead_letters()
    assert dead.headers[ERROR_HEADER].startswith("ContractViolation:")
    assert "currency" in dead.headers[ERROR_HEADER]


def test_stop_finishes_the_batch_in_flight(broker: Broker, transport_factory: Any) -> None:
    broker.publish(*[catalog_event("product", "upserted", pid, 1) for pid in range(1, 31)])
    consumer: InboxConsumer | None = None
    applied: list[int] = []

    def stop_after_first(event: Envelope) -> None:
        apply_products_upserted([event])
        applied.append(event.data["id"])
        assert consumer is not None
        consumer.stop()

    consumer = InboxConsumer(
        transport_factory=transport_factory,
        settings=_with(broker, batch_size=10),
        handlers={**HANDLERS, "catalog.product.upserted": stop_after_first},
    )
    consumer.run()

    # The whole first batch, committed and acked: up to batch_size, as many as had arrived when
    # the first did (fetch takes what is there, it does not wait for a full batch).
    assert 1 <= len(applied) <= 10
    assert Product.objects.count() == len(applied)
    # The rest goes back to the queue; RabbitMQ requeues a closed channel's unacked deliveries
    # on its own time, so the depth is awaited, not read once.
    wait_until(
        lambda: broker.depth() == 30 - len(applied),
        timeout=10,
        interval=0.05,
        what=f"{30 - len(applied)} messages back in the queue",
    )


@pytest.mark.postgres
def test_consumer_recovers_when_its_database_connection_is_terminated(
    broker: Broker, transport_factory: Any, postgres_url: str
) -> None:
    terminated = threading.Event()
    settings = connection.settings_dict
    dsn = f"host={settings['HOST']} port={settings['PORT'] or 5432} user={settings['USER']}"

    def terminate_own_backend(event: Envelope) -> None:
        if event.data["id"] == 25 and not terminated.is_set():
            terminated.set()
            pid = connection.connection.info.backend_pid
            with psycopg.connect(f"{dsn} dbname={settings['NAME']}", autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        apply_products_upserted([event])

    broker.publish(*[catalog_event("product", "upserted", pid, 1) for pid in range(1, 51)])
    consumer = consume(
        broker,
        transport_factory,
        {**HANDLERS, "catalog.product.upserted": terminate_own_backend},
        batch_size=10,
    )

    assert terminated.is_set()
    assert Product.objects.count() == 50
    assert InboxRecord.objects.count() == 50
    assert consumer.stats.outcomes["applied"] == 50
    assert consumer.stats.outcomes["failed"] == 0
    assert broker.depth() == 0


def test_forged_source_subject_mismatch_and_oversize_are_dead_lettered_with_their_reasons(
    broker: Broker, transport_factory: Any
) -> None:
    from strangler.inbox.models import ProjectionVersion

    broker.publish(catalog_event("product", "upserted", 1, 1, product_data(1, 1, name="Kept")))
    consume(broker, transport_factory)
    forged = catalog_event("product", "upserted", 2, 1, source="intruder")
    # subject 1, data of product 2: it would overwrite row 2 and move product 1's version.
    mismatch = catalog_event("product", "upserted", 1, 5, product_data(2, 5, name="Overwritten"))
    big = catalog_event("product", "upserted", 3, 1, product_data(3, 1, description="x" * 5000))
    broker.publish(forged, mismatch, big)

    consumer = consume(broker, transport_factory, max_message_bytes=4096)

    assert consumer.stats.outcomes["dead_lettered"] == 3
    reasons = {d.headers[REASON_HEADER]: d.headers[ERROR_HEADER] for d in broker.dead_letters()}
    assert set(reasons) == {"source_not_allowed", "subject_mismatch", "too_large"}
    assert "'intruder' may not write context 'catalog'" in reasons["source_not_allowed"]
    assert "subject '1' differs from the data's id 2" in reasons["subject_mismatch"]
    assert "over STRANGLER_INBOX['MAX_MESSAGE_BYTES']=4096" in reasons["too_large"]
    assert list(Product.objects.values_list("pk", "name")) == [(1, "Kept")]
    versions = dict(ProjectionVersion.objects.values_list("aggregate_id", "version"))
    assert versions == {"1": 1}


def test_a_negative_price_and_an_over_long_name_are_dead_lettered_and_not_applied(
    broker: Broker, transport_factory: Any
) -> None:
    import dataclasses

    from strangler.inbox.models import ProjectionVersion

    broker.publish(catalog_event("product", "upserted", 1, 1, product_data(1, 1, name="Kept")))
    consume(broker, transport_factory)
    negative = catalog_event("product", "upserted", 1, 2, product_data(1, 2, price="-5.00"))
    long_name = dataclasses.replace(
        catalog_event("product", "upserted", 2, 1, product_data(2, 1, name="x" * 201)),
        dataversion=2,
    )
    # A category that has not arrived (yet) is no reason to refuse: stored as sent (ADR 0009).
    dangling = catalog_event("product", "upserted", 3, 1, product_data(3, 1, category_id=999))
    broker.publish(negative, long_name, dangling)

    consumer = consume(broker, transport_factory)

    assert consumer.stats.outcomes["dead_lettered"] == 2
    errors = sorted(d.headers[ERROR_HEADER] for d in broker.dead_letters())
    assert all(d.headers[REASON_HEADER] == DeadLetterReason.INVALID for d in broker.dead_letters())
    assert "v2 is invalid: name: " in errors[0] or "v2 is invalid: name: " in errors[1]
    assert any("v2 is invalid: price: '-5.00'" in error for error in errors)
    assert list(Product.objects.values_list("pk", "name", "category_id")) == [
        (1, "Kept", None),
        (3, "Product 3 v1", 999),
    ]
    versions = dict(ProjectionVersion.objects.values_list("aggregate_id", "version"))
    assert versions == {"1": 1, "3": 1}
