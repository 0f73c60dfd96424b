"""Prometheus metrics of the inbox: outcomes, lag from event time to commit, dead-letter depth."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "strangler_inbox_events",
    "Consumed messages by outcome (applied, duplicate, stale, failed, dead_lettered).",
    ["subscriber", "outcome"],
)
LAG = Histogram(
    "strangler_inbox_lag_seconds",
    "Seconds from an event's time (the producer's commit) to the commit that applied it.",
    ["subscriber"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
DEAD_LETTER_DEPTH = Gauge(
    "strangler_inbox_dead_letter_depth",
    "Messages waiting in the subscriber's dead-letter queue.",
    ["subscriber"],
)
