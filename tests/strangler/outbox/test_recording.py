"""record_event: inside the writer's transaction only, one row per change, versions +1."""

from __future__ import annotations

import pytest
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from django.db import transaction

from strangler.contracts import registry
from strangler.contracts.envelope import Envelope
from strangler.outbox.models import OutboxEvent
from strangler.outbox.services import OutboxUsageError, record_event
from tests.strangler.outbox.conftest import PRODUCT_UPSERTED, product, record_products

pytestmark = pytest.mark.django_db


def test_rolled_back_write_leaves_no_event() -> None:
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        record_event(PRODUCT_UPSERTED, subject=1, data=product(1))
        raise RuntimeError("boom")
    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # a real autocommit connection, no test transaction
def test_record_event_outside_a_transaction_raises() -> None:
    with pytest.raises(OutboxUsageError, match=r"transaction\.atomic"):
        record_event(PRODUCT_UPSERTED, subject=1, data=product(1))


def test_aggregate_versions_increase_by_one_per_change() -> None:
    record_products((1, "1.00"), (2, "1.00"), (1, "2.00"), (1, "3.00"), (2, "2.00"))
    versions = list(OutboxEvent.objects.order_by("id").values_list("subject", "aggregate_version"))
    assert versions == [("1", 1), ("2", 1), ("1", 2), ("1", 3), ("2", 2)]


def test_row_becomes_a_valid_cloudevent_in_rabbitmq_binary_mode() -> None:
    [event] = record_products((7, "9.99"))
    message = event.to_envelope().to_message()
    parsed = from_binary(
        RabbitMQMessage(message.headers, message.content_type, message.body), JSONFormat()
    )
    assert parsed.get_id() == str(event.event_id)
    assert parsed.get_type() == PRODUCT_UPSERTED
    assert parsed.get_source() == "monolith"
    assert parsed.get_subject() == "7"
    assert parsed.get_extension("aggregateversion") == "1"
    assert parsed.get_dataschema().endswith("catalog.product.upserted/v2.json")  # the newest
    envelope = Envelope.from_message(message.headers, message.content_type, message.body)
    registry.validate_envelope(envelope)
    assert envelope.data == product(7, price="9.99")
