"""Reads over the outbox: backlog, age of the oldest pending event, recent publishing rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from strangler.outbox.metrics import OLDEST_PENDING_AGE, PENDING_EVENTS
from strangler.outbox.models import OutboxEvent


@dataclass(frozen=True)
class OutboxStatus:
    """The outbox at one moment; rate is events confirmed per second over the last window."""

    pending: int
    retrying: int
    oldest_pending_age_seconds: float | None
    published_in_window: int
    window_seconds: int
    published_retained: int
    last_error: str

    @property
    def published_per_second(self) -> float:
        return self.published_in_window / self.window_seconds

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "published_per_second": round(self.published_per_second, 2)}


def outbox_status(*, window_seconds: int = 60) -> OutboxStatus:
    """Backlog and recent throughput of this database's outbox (also refreshes the gauges)."""
    now = timezone.now()
    pending = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        count=Count("id"),
        retrying=Count("id", filter=Q(next_attempt_at__isnull=False)),
        oldest=Min("created_at"),
    )
    published = OutboxEvent.objects.filter(published_at__isnull=False).aggregate(
        retained=Count("id"),
        recent=Count("id", filter=Q(published_at__gte=now - timedelta(seconds=window_seconds))),
    )
    last_error = (
        OutboxEvent.objects.filter(published_at__isnull=True)
        .exclude(last_error="")
        .order_by("id")
        .values_list("last_error", flat=True)
        .first()
    )
    oldest = pending["oldest"]
    age = max(0.0, (now - oldest).total_seconds()) if oldest else None
    PENDING_EVENTS.set(pending["count"])
    OLDEST_PENDING_AGE.set(age or 0.0)
    return OutboxStatus(
        pending=pending["count"],
        retrying=pending["retrying"],
        oldest_pending_age_seconds=age,
        published_in_window=published["recent"],
        window_seconds=window_seconds,
        published_retained=published["retained"],
        last_error=last_error or "",
    )


def refresh_backlog_gauges() -> tuple[int, float]:
    """Set the pending and oldest-age gauges from the pending rows only (cheap: partial index)."""
    pending = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )
    oldest = pending["oldest"]
    age = max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0
    PENDING_EVENTS.set(pending["count"])
    OLDEST_PENDING_AGE.set(age)
    return pending["count"], age
