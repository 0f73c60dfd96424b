"""The gateway's request counts export what prometheus_client's Counter and Histogram would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from strangler.gateway.metrics import DURATION_BUCKETS, RequestCounts

ANSWERS = [
    ("catalog", "monolith", 200, 0.0004),
    ("catalog", "monolith", 200, 0.003),
    ("catalog", "monolith", 404, 0.001),  # on a bucket's bound: counted in that bucket
    ("catalog", "catalog", 200, 0.2),
    ("catalog", "monolith", 502, 12.0),  # past the last bound
    ("orders", "monolith", 201, 0.05),
]


def _exposition(registry: CollectorRegistry) -> list[str]:
    """The text exposition without its _created samples (they hold the time they were made)."""
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if "_created" not in line)


def test_the_samples_are_those_of_a_counter_and_a_histogram() -> None:
    ours = CollectorRegistry()
    counts = RequestCounts()
    ours.register(counts)
    theirs = CollectorRegistry()
    counter = Counter(
        "gateway_requests",
        "Requests answered, by route, target backend and status.",
        ["route", "target", "status"],
        registry=theirs,
    )
    histogram = Histogram(
        "gateway_request_duration_seconds",
        "Time from request to the end of the response, by route and target.",
        ["route", "target"],
        buckets=DURATION_BUCKETS,
        registry=theirs,
    )
    for route, target, status, elapsed in ANSWERS:
        counts.count(route, target, status, elapsed)
        counter.labels(route, target, str(status)).inc()
        histogram.labels(route, target).observe(elapsed)

    assert _exposition(ours) == _exposition(theirs)
    created = [line for line in generate_latest(ours).decode().splitlines() if "_created{" in line]
    # One per status series and one per (route, target) histogram.
    assert len(created) == 5 + 3
