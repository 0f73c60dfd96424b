"""Prometheus metrics of the gateway process, in their own registry (served at /metrics)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class RequestCounts:
    """gateway_requests_total and gateway_request_duration_seconds, counted without locks.

    Every answer is counted here, from the event loop's one thread, and read by a scrape in that
    same thread: plain integers per series instead of prometheus_client's three lock round trips
    per request (ADR 0014). The samples are the ones a Counter and a Histogram would export.
    """

    def __init__(self) -> None:
        # Per (route, target, status): a count per duration bucket (the last one past 10 s),
        # then the sum of the durations. One lookup per answer; a scrape adds them up.
        self._series: dict[tuple[str, str, int], list[float]] = {}
        self._created: dict[tuple[str, str] | tuple[str, str, int], float] = {}

    def count(self, route: str, target: str, status: int, elapsed: float) -> None:
        """One answer: its status and how long it took (seconds)."""
        series = self._series.get((route, target, status))
        if series is None:
            series = self._new_series(route, target, status)
        series[bisect_left(DURATION_BUCKETS, elapsed)] += 1
        series[-1] += elapsed

    def _new_series(self, route: str, target: str, status: int) -> list[float]:
        now = time.time()
        self._created[(route, target, status)] = now
        self._created.setdefault((route, target), now)
        series = self._series[(route, target, status)] = [0] * (len(DURATION_BUCKETS) + 2)
        return series

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        return iter(self._families())

    def _families(self) -> list[Metric]:
        requests = CounterMetricFamily(
            "gateway_requests",
            "Requests answered, by route, target backend and status.",
            labels=["route", "target", "status"],
        )
        durations: dict[tuple[str, str], list[float]] = {}
        for key, series in self._series.items():
            route, target, status = key
            requests.add_metric(
                [route, target, str(status)], sum(series[:-1]), created=self._created[key]
            )
            total = durations.setdefault((route, target), [0] * len(series))
            for index, value in enumerate(series):
                total[index] += value
        duration = HistogramMetricFamily(
            "gateway_request_duration_seconds",
            "Time from request to the end of the response, by route and target.",
            labels=["route", "target"],
        )
        for pair, series in durations.items():
            cumulative, buckets = 0, []
            for bound, count in zip((*DURATION_BUCKETS, float("inf")), series[:-1], strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            duration.add_metric(list(pair), buckets, series[-1])
            duration.samples.append(
                Sample(
                    "gateway_request_duration_seconds_created",
                    dict(zip(("route", "target"), pair, strict=True)),
                    self._created[pair],
                )
            )
        return [requests, duration]


class GatewayMetrics:
    """Every series the gateway exports; one instance per gateway app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestCounts()
        self.registry.register(self.requests)
        self.upstream_errors = Counter(
            "gateway_upstream_errors_total",
            "Failed exchanges with a backend instance, by backend and kind.",
            ["backend", "kind"],
            registry=self.registry,
        )
        self.retries = Counter(
            "gateway_retries_total",
            "Idempotent requests retried after a connection error, by backend.",
            ["backend"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "gateway_canary_fallbacks_total",
            "Canary requests answered by the monolith because the service failed, by route.",
            ["route"],
            registry=self.registry,
        )
        self.shadow = Counter(
            "gateway_shadow_comparisons_total",
            "Shadow comparisons by route and result (match, mismatch, error).",
            ["route", "result"],
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "gateway_shadow_dropped_total",
            "Mirrors not sent, by route and reason (queue_full, body_too_large).",
            ["route", "reason"],
            registry=self.registry,
        )
        self.circuit = Gauge(
            "gateway_circuit_state",
            "Circuit breaker per instance: 0 closed, 1 half-open, 2 open.",
            ["backend", "instance"],
            registry=self.registry,
        )
        self.healthy = Gauge(
            "gateway_instance_healthy",
            "1 when the instance is in the pool, 0 when health checks took it out.",
            ["backend", "instance"],
            registry=self.registry,
        )
        self.ejections = Counter(
            "gateway_instance_ejections_total",
            "Times an instance was taken out of the pool (passive failures or a failed check).",
            ["backend", "instance"],
            registry=self.registry,
        )
        self.circuit_opened = Counter(
            "gateway_circuit_opened_total",
            "Times an instance's circuit breaker opened.",
            ["backend", "instance"],
            registry=self.registry,
        )
        self.context_writer = Gauge(
            "gateway_context_writer",
            "1 for the side that writes the context (as last read), 0 for the other side.",
            ["context", "writer"],
            registry=self.registry,
        )
        self.context_frozen = Gauge(
            "gateway_context_frozen",
            "1 while the context's writes are frozen (as last read).",
            ["context"],
            registry=self.registry,
        )
        self.writes_frozen = Counter(
            "gateway_writes_frozen_total",
            "Unsafe requests the gateway answered 503 itself because the context was frozen.",
            ["context"],
            registry=self.registry,
        )
        self.held_writes = Counter(
            "gateway_held_writes_total",
            "Writes held across a freeze (FREEZE_HOLD_SECONDS), by context and outcome: sent "
            "(to the writer once open), expired (answered 503), client_gone.",
            ["context", "outcome"],
            registry=self.registry,
        )
        self.holding = Gauge(
            "gateway_writes_held",
            "Writes being held across a freeze now, by context.",
            ["context"],
            registry=self.registry,
        )
        self.ownership_read = Gauge(
            "gateway_ownership_last_read_timestamp_seconds",
            "Unix time of the last successful read of the context's writer.",
            ["context"],
            registry=self.registry,
        )
        self.ownership_errors = Counter(
            "gateway_ownership_read_errors_total",
            "Failed or slow reads of the context's writer (the last known state stays in force).",
            ["context"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "gateway_routing_reloads_total",
            "Routing table loads by result (ok, error).",
            ["result"],
            registry=self.registry,
        )
