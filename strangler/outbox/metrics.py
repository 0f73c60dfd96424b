"""Prometheus metrics of the outbox and its relay (names carry their units)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PENDING_EVENTS = Gauge(
    "strangler_outbox_pending_events",
    "Outbox rows recorded but not yet confirmed by the broker.",
)
OLDEST_PENDING_AGE = Gauge(
    "strangler_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none is pending).",
)
PUBLISHED_EVENTS = Counter(
    "strangler_outbox_published_events",
    "Outbox events the broker confirmed and the relay marked published.",
)
PUBLISH_FAILURES = Counter(
    "strangler_outbox_publish_failures",
    "Outbox events not published in an attempt, by reason.",
    ["reason"],
)
PUBLISH_DURATION = Histogram(
    "strangler_outbox_publish_duration_seconds",
    "Time to publish one relay batch and receive all of its confirms.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

BYPASSED_WRITES = Counter(
    "strangler_outbox_bypassed_writes",
    "Transactions that changed a tracked table without recording events for the rows they "
    "changed (one per transaction and table), by outcome: logged, or refused and rolled back.",
    ["table", "aggregate_type", "outcome"],
)


def failure_reason(error: str) -> str:
    """A low-cardinality label for a publish error message."""
    for reason in ("unroutable", "nacked", "confirm"):
        if reason in error:
            return "unconfirmed" if reason == "confirm" else reason
    return "other"
