"""Outbox fixtures: valid event payloads, bulk pending rows, transports (shared with transport)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from strangler.outbox.conf import outbox_settings
from strangler.outbox.models import AggregateVersion, OutboxEvent
from strangler.outbox.services import partition_for, record_event
from strangler.transport.conf import TransportSettings, transport_settings
from strangler.transport.embedded import EmbeddedTransport
from tests.strangler.transport.conftest import (  # noqa: F401 - fixtures
    embedded,
    rabbit,
    rabbit_settings,
    subscribe,
    unique,
)

PRODUCT_UPSERTED = "catalog.product.upserted"
PRODUCT_DELETED = "catalog.product.deleted"


def product(product_id: int, *, name: str = "Lamp", price: str = "10.00") -> dict[str, object]:
    """A catalog.product.upserted v1 payload that satisfies the published schema."""
    return {
        "id": product_id,
        "sku": f"SKU-{product_id}",
        "name": name,
        "description": "",
        "price": price,
        "currency": "EUR",
        "category_id": None,
        "active": True,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }


def record_products(*changes: tuple[int, str]) -> list[OutboxEvent]:
    """Record one upsert per (product id, price) change, each in its own transaction."""
    events = []
    for product_id, price in changes:
        with transaction.atomic():
            events.append(
                record_event(
                    PRODUCT_UPSERTED, subject=product_id, data=product(product_id, price=price)
                )
            )
    return events


def bulk_pending_events(aggregates: int, per_aggregate: int) -> int:
    """Insert aggregates x per_aggregate pending upserts fast, interleaved, versions 1..n."""
    partitions = outbox_settings().partitions
    now = timezone.now()
    rows = [
        OutboxEvent(
            event_id=uuid.uuid4(),
            event_type=PRODUCT_UPSERTED,
            source="monolith",
            subject=str(a),
            aggregate_type="catalog.product",
            aggregate_version=v,
            partition=partition_for("catalog.product", str(a), partitions),
            dataversion=1,
            data=product(a, price=f"{v}.00"),
            created_at=now,
        )
        for v in range(1, per_aggregate + 1)
        for a in range(1, aggregates + 1)
    ]
    with transaction.atomic():
        OutboxEvent.objects.bulk_create(rows, batch_size=2000)
        AggregateVersion.objects.bulk_create(
            [
                AggregateVersion(
                    aggregate_type="catalog.product", aggregate_id=str(a), version=per_aggregate
                )
                for a in range(1, aggregates + 1)
            ]
        )
    return len(rows)


@pytest.fixture
def embedded_settings(tmp_path: Path) -> TransportSettings:
    return dataclasses.replace(
        transport_settings(), url="filesystem://", data_folder=tmp_path / "broker"
    )


@pytest.fixture
def embedded_transport(embedded_settings: TransportSettings) -> Iterator[EmbeddedTransport]:
    transport = EmbeddedTransport(embedded_settings)
    transport.created = []  # type: ignore[attr-defined]
    yield transport
    transport.close()
