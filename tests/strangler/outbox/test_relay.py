"""The relay over any database with the embedded transport: publish, mark, hold back, retry."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from strangler.outbox.conf import outbox_settings
from strangler.outbox.models import OutboxEvent
from strangler.outbox.relay import OutboxRelay
from strangler.outbox.services import record_event
from strangler.transport.base import Subscription
from strangler.transport.conf import TransportSettings
from strangler.transport.embedded import EmbeddedTransport
from tests.strangler.outbox.conftest import (
    PRODUCT_DELETED,
    PRODUCT_UPSERTED,
    product,
    record_products,
)

pytestmark = pytest.mark.django_db


def drain(transport: EmbeddedTransport, queue: str) -> list[tuple[str, int, str]]:
    """(subject, aggregate version, event id) of every message in the queue, in order."""
    received = []
    with transport.consumer(queue) as consumer:
        while batch := consumer.fetch(500, timeout=0.2):
            received += [
                (d.headers["ce-subject"], int(d.headers["ce-aggregateversion"]), d.headers["ce-id"])
                for d in batch
            ]
            consumer.ack_many(batch)
    return received


def subscription(transport: EmbeddedTransport, *keys: str) -> Subscription:
    sub = Subscription("tests", "tests.events", keys)
    transport.declare_subscription(sub)
    return sub


def test_relay_publishes_pending_events_in_order_and_marks_them(
    embedded_transport: EmbeddedTransport,
) -> None:
    sub = subscription(embedded_transport, "catalog.#")
    events = record_products(*[(n % 3 + 1, f"{n}.00") for n in range(12)])
    summary = OutboxRelay(transport=embedded_transport, batch_size=5).publish_all_pending()
    assert summary.published == 12
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
    received = drain(embedded_transport, sub.queue)
    assert sorted(r[2] for r in received) == sorted(str(e.event_id) for e in events)
    for subject in ("1", "2", "3"):
        versions = [v for s, v, _ in received if s == subject]
        assert versions == sorted(versions) == list(range(1, 5))


def test_a_trickle_over_every_partition_goes_out_in_one_batch(
    embedded_transport: EmbeddedTransport,
) -> None:
    subscription(embedded_transport, "catalog.#")
    record_products(*[(pid, "1.00") for pid in range(1, 41)])
    partitions = set(OutboxEvent.objects.values_list("partition", flat=True))
    assert len(partitions) > outbox_settings().claim_partitions  # spread wider than one claim

    result = OutboxRelay(transport=embedded_transport, batch_size=100).publish_batch()

    assert result.published == 40
    assert set(result.partitions) == partitions
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


def test_a_full_batch_claims_no_more_partitions_than_configured(
    embedded_transport: EmbeddedTransport,
) -> None:
    subscription(embedded_transport, "catalog.#")
    record_products(*[(1, f"{n}.00") for n in range(10)], *[(pid, "1.00") for pid in range(2, 32)])

    relay = OutboxRelay(transport=embedded_transport, batch_size=5)
    claims: list[int] = []
    claim_rows = relay._claim_rows
    relay._claim_rows = lambda now, partitions, room, exclude=(): (  # type: ignore[method-assign]
        claims.append(partitions) or claim_rows(now, partitions, room, exclude)
    )

    result = relay.publish_batch()

    assert result.published == 5
    # One claim of CLAIM_PARTITIONS partitions and no top-up: the rest is left to other relays.
    assert claims == [outbox_settings().claim_partitions]
    assert len(result.partitions) <= outbox_settings().claim_partitions


def test_unroutable_event_stays_pending_and_holds_back_its_aggregate(
    embedded_transport: EmbeddedTransport,
) -> None:
    sub = subscription(embedded_transport, PRODUCT_UPSERTED)
    with transaction.atomic():
        deleted = record_event(PRODUCT_DELETED, subject=1, data={"id": 1})
        later = record_event(PRODUCT_UPSERTED, subject=1, data=product(1))
        other = record_event(PRODUCT_UPSERTED, subject=2, data=product(2))
    relay = OutboxRelay(transport=embedded_transport)
    first = relay.publish_all_pending()
    assert (first.published, first.failed, first.held_back) == (1, 1, 1)
    deleted.refresh_from_db()
    later.refresh_from_db()
    other.refresh_from_db()
    assert deleted.published_at is None and deleted.attempts == 1
    assert "unroutable" in deleted.last_error and deleted.next_attempt_at > timezone.now()
    assert later.published_at is None  # must not overtake the refused event of its aggregate
    assert other.published_at is not None
    # While the refused event waits for its retry, nothing of aggregate 1 is claimed.
    assert relay.publish_all_pending().published == 0

    embedded_transport.declare_subscription(
        Subscription("tests", sub.queue, (PRODUCT_UPSERTED, PRODUCT_DELETED))
    )
    OutboxEvent.objects.filter(id=deleted.id).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert relay.publish_all_pending().published == 2
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()
    arrivals = [(s, v) for s, v, _ in drain(embedded_transport, sub.queue)]
    assert arrivals[-2:] == [("1", 1), ("1", 2)]  # the refused event, then the one after it


def test_killed_between_confirm_and_mark_publishes_again_with_the_same_id(
    embedded_transport: EmbeddedTransport,
) -> None:
    sub = subscription(embedded_transport, "catalog.#")
    [event] = record_products((1, "1.00"))

    class Killed(Exception):
        pass

    def die(rows: object) -> None:
        raise Killed

    with pytest.raises(Killed):
        OutboxRelay(transport=embedded_transport, after_confirm=die).publish_all_pending()
    event.refresh_from_db()
    assert event.published_at is None
    OutboxRelay(transport=embedded_transport).publish_all_pending()
    ids = [event_id for _, _, event_id in drain(embedded_transport, sub.queue)]
    assert ids == [str(event.event_id)] * 2


def test_once_command_publishes_everything_pending(
    settings: object, embedded_settings: TransportSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.STRANGLER_TRANSPORT = {  # type: ignore[attr-defined]
        "URL": "filesystem://",
        "DATA_FOLDER": str(embedded_settings.data_folder),
    }
    settings.STRANGLER_SUBSCRIPTIONS = [  # type: ignore[attr-defined]
        {"subscriber": "tests", "queue": "tests.events", "binding_keys": ["catalog.#"]}
    ]
    call_command("setup_broker")
    record_products(*[(n, "1.00") for n in range(1, 8)])
    call_command("outbox_relay", "--once", "--batch-size", "3", "--json")
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["published"] == 7 and summary["batches"] == 3
    assert EmbeddedTransport(embedded_settings).queue_depth("tests.events") == 7


def test_once_command_with_broker_down_fails_and_marks_nothing(settings: object) -> None:
    settings.STRANGLER_TRANSPORT = {  # type: ignore[attr-defined]
        "URL": "amqp://guest:guest@127.0.0.1:9//",
        "CONNECT_TIMEOUT": 1,
    }
    record_products((1, "1.00"))
    with pytest.raises(CommandError, match="Nothing was marked published"):
        call_command("outbox_relay", "--once")
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 1


def test_outbox_status_reports_backlog_as_json(
    embedded_transport: EmbeddedTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    subscription(embedded_transport, "catalog.#")
    record_products((1, "1.00"), (2, "1.00"), (3, "1.00"))
    OutboxRelay(transport=embedded_transport, batch_size=1).publish_batch()
    call_command("outbox_status", "--json")
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 2
    assert status["published_in_window"] == 1
    assert status["oldest_pending_age_seconds"] >= 0


def test_prune_deletes_only_published_rows_past_retention(
    embedded_transport: EmbeddedTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    subscription(embedded_transport, "catalog.#")
    old, recent, pending = record_products((1, "1.00"), (2, "1.00"), (3, "1.00"))
    OutboxEvent.objects.filter(id=old.id).update(published_at=timezone.now() - timedelta(days=40))
    OutboxEvent.objects.filter(id=recent.id).update(published_at=timezone.now())
    OutboxEvent.objects.filter(id=pending.id).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    call_command("prune_outbox", "--older-than", "30", "--dry-run")
    assert "1 published event(s)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--yes"):
        call_command("prune_outbox", "--older-than", "30")
    call_command("prune_outbox", "--older-than", "30", "--yes")
    assert set(OutboxEvent.objects.values_list("id", flat=True)) == {recent.id, pending.id}


def test_relay_settings_checks_refuse_misspellings(settings: object) -> None:
    from strangler.outbox.checks import check_outbox_settings

    settings.STRANGLER_OUTBOX = {"BATCHSIZE": 10, "RETRY_MAX": 0}  # type: ignore[attr-defined]
    assert {e.id for e in check_outbox_settings()} >= {"outbox.E002", "outbox.E005"}
    assert dataclasses.asdict(outbox_settings())["claim_partitions"] == 4


def test_celery_task_publishes_pending_events_in_one_pass(
    settings: object, embedded_settings: TransportSettings
) -> None:
    from strangler.outbox.tasks import publish_outbox_task

    settings.STRANGLER_TRANSPORT = {  # type: ignore[attr-defined]
        "URL": "filesystem://",
        "DATA_FOLDER": str(embedded_settings.data_folder),
    }
    transport = EmbeddedTransport(embedded_settings)
    subscription(transport, "catalog.#")
    record_products((1, "1.00"), (2, "1.00"))
    result = publish_outbox_task.apply(kwargs={"max_batches": 10}).get()
    assert result["published"] == 2
    assert transport.queue_depth("tests.events") == 2


def test_the_relay_sends_what_the_rows_envelope_says(embedded_transport: EmbeddedTransport) -> None:
    """The relay builds messages from row tuples; they must equal the envelope's own message."""
    sub = subscription(embedded_transport, "catalog.#")
    with transaction.atomic():
        recorded = record_products((7, "12.50"), (8, "3.00"))
    expected = {str(e.event_id): e.to_envelope().to_message() for e in recorded}
    OutboxRelay(transport=embedded_transport).publish_all_pending()
    with embedded_transport.consumer(sub.queue) as consumer:
        deliveries = consumer.fetch(10, timeout=0.5)
        consumer.ack_many(deliveries)
    assert len(deliveries) == 2
    for delivery in deliveries:
        message = expected[delivery.headers["ce-id"]]
        assert {k: v for k, v in delivery.headers.items() if k.startswith("ce-")} == message.headers
        assert delivery.content_type == message.content_type
        assert json.loads(delivery.body) == json.loads(message.body)


def _prepared_statements() -> dict[str, tuple[int, int]]:
    """The relay's statements this session prepared: text -> (generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            ["%strangler_outbox_event%"],
        )
        return {text: (generic, custom) for text, generic, custom in cursor.fetchall()}


@pytest.mark.postgres
def test_the_claim_and_the_read_are_prepared_and_run_from_their_plan(
    embedded_transport: EmbeddedTransport,
) -> None:
    subscription(embedded_transport, "catalog.#")
    relay = OutboxRelay(transport=embedded_transport, batch_size=100)
    for round_ in range(8):
        record_products(*[(pid, f"{round_}.00") for pid in range(1, 41)])
        assert relay.publish_batch().published == 40
    plans = _prepared_statements()
    claims = {text: counts for text, counts in plans.items() if "SKIP LOCKED" in text}
    reads = {text: counts for text, counts in plans.items() if "CROSS JOIN LATERAL" in text}
    # The first batch claims CLAIM_PARTITIONS, then tops up from the others (another text);
    # the seven after it claim every partition with one text, prepared once.
    assert sum(map(sum, claims.values())) == 9
    assert sorted(map(sum, claims.values())) == [1, 8]
    assert sum(map(sum, reads.values())) == 8
    # PostgreSQL plans the first five executions for their parameters, then keeps one plan.
    assert max(generic for generic, _ in claims.values()) > 0
    assert max(generic for generic, _ in reads.values()) > 0


@pytest.mark.postgres
def test_a_prepared_statement_the_server_lost_turns_preparing_off(
    embedded_transport: EmbeddedTransport,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a transaction-mode pooler does: the next statement may meet a server session that
    never saw the PREPARE. The batch fails like any database error (nothing marked), the
    relay warns, and from then on plans its statements every time."""
    monkeypatch.setattr("strangler.db._UNPREPARED", {})
    subscription(embedded_transport, "catalog.#")
    relay = OutboxRelay(transport=embedded_transport, batch_size=100)
    for price in ("1.00", "2.00"):  # the second batch prepares the trickle's claim
        record_products(*[(pid, price) for pid in range(1, 21)])
        assert relay.publish_batch().published == 20
    with connection.cursor() as cursor:  # behind psycopg's back, as a pooler would
        cursor.execute("SELECT name FROM pg_prepared_statements")
        for (name,) in cursor.fetchall():
            cursor.execute(f'DEALLOCATE "{name}"')
    record_products(*[(pid, "3.00") for pid in range(1, 21)])

    with pytest.raises(DatabaseError):
        relay.publish_batch()
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 20
    assert "refused a prepared statement" in caplog.text

    assert relay.publish_batch().published == 20
    assert _prepared_statements() == {}


@pytest.mark.postgres
def test_a_row_committed_late_below_the_floor_goes_out_after_the_floors_reset(
    embedded_transport: EmbeddedTransport,
) -> None:
    """An id taken before rows that committed first: the floor skips it, for FLOOR_RESET at
    most; then a probe from the start finds it."""
    sub = subscription(embedded_transport, "catalog.#")
    relay = OutboxRelay(transport=embedded_transport, batch_size=100)
    (early,) = record_products((1, "1.00"))  # its id is the lowest; it "commits" last
    late = OutboxEvent.objects.get(pk=early.pk)
    OutboxEvent.objects.filter(pk=early.pk).delete()
    record_products(*[(1, f"{n}.00") for n in range(2, 6)])  # the same partition as product 1
    assert relay.publish_batch().published == 4

    late.save(force_insert=True)  # the late commit, with the id it took first
    assert relay.publish_batch().claimed == 0  # below the partition's floor: not probed yet

    relay._floors_until = 0.0  # FLOOR_RESET seconds have passed
    result = relay.publish_batch()
    assert result.published == 1
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()
    assert str(late.event_id) in {r[2] for r in drain(embedded_transport, sub.queue)}


@pytest.mark.postgres
def test_floors_are_forgotten_after_a_refused_row(embedded_transport: EmbeddedTransport) -> None:
    relay = OutboxRelay(transport=embedded_transport, batch_size=100)
    subscription(embedded_transport, "catalog.#")
    record_products(*[(pid, "1.00") for pid in range(1, 6)])
    relay.publish_batch()
    assert relay._floors
    relay._advance_floors([], dataclasses.replace(relay.publish_batch(), failed=1))
    assert relay._floors == {}
