"""Transactional outbox: record integration events in the writer's own database transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from strangler.outbox.models import OutboxEvent


def record_event(
    event_type: str,
    *,
    subject: str | int,
    data: Mapping[str, Any],
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> OutboxEvent | None:
    """Record an event in the outbox; see strangler.outbox.services.record_event."""
    from strangler.outbox.services import record_event as _record_event

    return _record_event(
        event_type,
        subject=subject,
        data=data,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
