"""Gates: pure functions from figures and thresholds to a verdict with its evidence.

A gate either holds, waits (not enough evidence yet: the phase stays) or breaches (the evidence
says the service is worse: the controller rolls back). Nothing here reads a database or the
network; the controller gathers the figures (strangler.autopilot.signals) and stores the results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

HELD, WAITING, BREACHED = "held", "waiting", "breached"


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: the figures it read, the thresholds, and what failed it."""

    gate: str
    verdict: str  # held, waiting or breached
    figures: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    skipped: str = ""  # the operator's reason when the gate was skipped

    @property
    def held(self) -> bool:
        return self.verdict == HELD

    def to_dict(self) -> dict[str, Any]:
        data = {
            "gate": self.gate,
            "verdict": self.verdict,
            "figures": self.figures,
            "thresholds": self.thresholds,
            "failures": self.failures,
        }
        if self.skipped:
            data["skipped"] = self.skipped
        return data


def overall(results: Sequence[GateResult]) -> str:
    """breached if any gate breached, else held if every gate held, else waiting."""
    if any(r.verdict == BREACHED for r in results):
        return BREACHED
    return HELD if all(r.held for r in results) else WAITING


def skip(result: GateResult, reason: str) -> GateResult:
    """The operator skipped this gate: it holds, and says why."""
    return GateResult(result.gate, HELD, result.figures, result.thresholds, result.failures, reason)


# -- time -----------------------------------------------------------------------------------------


def hold_gate(elapsed: float, hold: float) -> GateResult:
    """The phase has lasted `hold` seconds."""
    verdict = HELD if elapsed >= hold else WAITING
    failures = [] if verdict == HELD else [f"held {elapsed:.1f}s of {hold:g}s"]
    return GateResult(
        "hold", verdict, {"elapsed_seconds": round(elapsed, 3)}, {"hold": hold}, failures
    )


# -- data -----------------------------------------------------------------------------------------


def fill_gate(
    *,
    source_counts: Mapping[str, int],
    target_counts: Mapping[str, int],
    writer_pending: int,
    reader_behind: int | None,
) -> GateResult:
    """The service holds as many rows as the monolith, nothing waits in the outbox, and the
    service applied the last version of every aggregate."""
    failures = [
        f"{label}: monolith {count} rows, service {target_counts.get(label, 0)}"
        for label, count in sorted(source_counts.items())
        if target_counts.get(label, 0) != count
    ]
    if writer_pending:
        failures.append(f"{writer_pending} events not yet published by the writer")
    if reader_behind is None:
        failures.append("the versions of the two sides could not be compared")
    elif reader_behind:
        failures.append(f"{reader_behind} aggregates not yet applied by the service")
    return GateResult(
        "filled",
        WAITING if failures else HELD,
        {
            "source_counts": dict(source_counts),
            "target_counts": dict(target_counts),
            "writer_pending": writer_pending,
            "reader_behind": reader_behind,
        },
        {"reader_behind": 0, "writer_pending": 0},
        failures,
    )


def drift_failures(reports: Iterable[Mapping[str, Any]], limit: int = 10) -> list[str]:
    """`aggregate id: field monolith -> service` for differing rows, and missing/extra ids."""
    lines: list[str] = []
    for report in reports:
        label = report["aggregate"]
        for different in report.get("different", [])[:limit]:
            for name, (left, right) in sorted(different["fields"].items()):
                lines.append(f"{label} {different['id']}: {name} {left} -> {right}")
        if report.get("missing"):
            lines.append(f"{label}: missing on the service {list(report['missing'])[:limit]}")
        if report.get("extra"):
            lines.append(f"{label}: extra on the service {list(report['extra'])[:limit]}")
    return lines


def drift_gate(
    reports: Sequence[Mapping[str, Any]],
    *,
    max_drift: int,
    persistent: Sequence[str] | None = None,
    breach: bool = False,
) -> GateResult:
    """Reconcile found at most max_drift differing aggregates.

    With `persistent` (ids that differed in this reconcile and the one before, `label:id`), only
    those count: a write in flight between the two stores is not drift. `breach` makes a failure
    a breach (after the cutover) rather than a wait.
    """
    total = sum(int(r["drift"]) for r in reports)
    counted = total if persistent is None else len(persistent)
    failed = counted > max_drift
    figures: dict[str, Any] = {
        "drift": total,
        "by_aggregate": {r["aggregate"]: r["drift"] for r in reports},
        "rows": {r["aggregate"]: r.get("source_count") for r in reports},
    }
    verdict = (BREACHED if breach else WAITING) if failed else HELD
    if persistent is not None:
        figures["persistent"] = list(persistent)
        if not failed and total > max_drift:
            verdict = WAITING  # differences seen once may be writes in flight: look again
    return GateResult(
        "drift",
        verdict,
        figures,
        {"max_drift": max_drift},
        drift_failures(reports) if verdict != HELD else [],
    )


def drift_ids(reports: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every differing, missing or extra aggregate of a reconcile, as `label:id`."""
    found: set[str] = set()
    for report in reports:
        label = report["aggregate"]
        found.update(f"{label}:{key}" for key in report.get("missing", []))
        found.update(f"{label}:{key}" for key in report.get("extra", []))
        found.update(f"{label}:{d['id']}" for d in report.get("different", []))
    return found


# -- shadow and probes ----------------------------------------------------------------------------


def difference_lines(differences: Iterable[Mapping[str, Any]], limit: int = 10) -> list[str]:
    """`GET /path: body.price "3.10" -> "31.00"` for stored mismatches, most recent first."""
    lines = []
    for mismatch in differences:
        where = f"{mismatch.get('method', 'GET')} {mismatch.get('path', '')}".strip()
        if mismatch.get("error"):
            lines.append(f"{where}: error {mismatch['error']}")
        for difference in mismatch.get("differences", []):
            lines.append(
                f"{where}: {difference['path']} {_show(difference['monolith'])} -> "
                f"{_show(difference['service'])}"
            )
        if len(lines) >= limit:
            break
    return lines[:limit]


def mismatching_fields(differences: Iterable[Mapping[str, Any]]) -> list[str]:
    """The last step of every differing path, generalised: `price` for `results[3].price`."""
    names: list[str] = []
    for mismatch in differences:
        for difference in mismatch.get("differences", []):
            name = str(difference["path"]).rsplit(".", 1)[-1].split("[", 1)[0] or difference["path"]
            if name not in names:
                names.append(name)
    return names


def shadow_gate(
    *,
    requests: int,
    matches: int,
    min_requests: int,
    min_match_rate: float,
    differences: Sequence[Mapping[str, Any]] = (),
) -> GateResult:
    """Enough mirrored requests compared, and enough of them matched (after ignore rules)."""
    rate = matches / requests if requests else None
    failures = []
    if requests < min_requests:
        failures.append(f"{requests} of {min_requests} requests compared")
    if rate is not None and rate < min_match_rate:
        failures.append(f"match rate {rate:.4f} below {min_match_rate}")
        failures.extend(difference_lines(differences))
    return GateResult(
        "shadow",
        WAITING if failures else HELD,
        {
            "requests": requests,
            "matches": matches,
            "match_rate": None if rate is None else round(rate, 6),
            "fields": mismatching_fields(differences) if failures else [],
        },
        {"min_requests": min_requests, "min_match_rate": min_match_rate},
        failures,
    )


def correctness_gate(
    *,
    compared: int,
    mismatched: int,
    max_mismatches: int,
    differences: Sequence[Mapping[str, Any]] = (),
) -> GateResult:
    """During canary: the service answered probes like the monolith (breach otherwise)."""
    failed = mismatched > max_mismatches
    fields = mismatching_fields(differences)
    failures = []
    if failed:
        named = f" (fields: {', '.join(fields)})" if fields else ""
        failures.append(f"{mismatched} of {compared} compared answers differ{named}")
        failures.extend(difference_lines(differences))
    return GateResult(
        "correctness",
        BREACHED if failed else HELD,
        {"compared": compared, "mismatched": mismatched, "fields": fields},
        {"max_mismatches": max_mismatches},
        failures,
    )


# -- the gateway's metrics ------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetWindow:
    """Requests one route sent to one target: count, 5xx answers, latency histogram buckets."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound, cumulative count)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket that holds the q-quantile (Prometheus' conservative
        reading of a histogram); None without requests."""
        if not self.requests or not self.buckets:
            return None
        wanted = q * self.buckets[-1][1]
        for bound, count in self.buckets:
            if count >= wanted:
                return bound
        return self.buckets[-1][0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the +Inf bucket's bound is written as the text "+Inf"."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "buckets": [[_bound_text(bound), count] for bound, count in self.buckets],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetWindow:
        return cls(
            float(data["requests"]),
            float(data["errors"]),
            tuple((float(b), float(c)) for b, c in data["buckets"]),
        )

    def minus(self, earlier: TargetWindow) -> TargetWindow:
        """What happened since `earlier` (counters only grow; a restart resets them to zero)."""
        if self.requests < earlier.requests:
            return self
        before = dict(earlier.buckets)
        return TargetWindow(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            tuple((bound, count - before.get(bound, 0.0)) for bound, count in self.buckets),
        )


# {route: {target: TargetWindow}}; fallbacks are counted as target "fallback".
GatewaySnapshot = dict[str, dict[str, TargetWindow]]


def parse_gateway_metrics(text: str) -> GatewaySnapshot:
    """The gateway's /metrics exposition as cumulative figures per route and target."""
    requests: dict[tuple[str, str], list[float]] = {}
    buckets: dict[tuple[str, str], dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "gateway_requests_total":
                key = (labels["route"], labels["target"])
                counts = requests.setdefault(key, [0.0, 0.0])
                counts[0] += sample.value
                if labels.get("status", "").startswith("5"):
                    counts[1] += sample.value
            elif sample.name == "gateway_request_duration_seconds_bucket":
                key = (labels["route"], labels["target"])
                bound = float(labels["le"])
                buckets.setdefault(key, {})[bound] = sample.value
            elif sample.name == "gateway_canary_fallbacks_total":
                key = (labels["route"], "fallback")
                counts = requests.setdefault(key, [0.0, 0.0])
                counts[0] += sample.value
                counts[1] += sample.value
    snapshot: GatewaySnapshot = {}
    for (route, target), (total, errors) in requests.items():
        found = buckets.get((route, target), {})
        ordered = tuple(sorted(found.items(), key=lambda item: item[0]))
        snapshot.setdefault(route, {})[target] = TargetWindow(total, errors, ordered)
    return snapshot


def route_window(
    current: GatewaySnapshot, baseline: GatewaySnapshot, route: str, target: str
) -> TargetWindow:
    now = current.get(route, {}).get(target, TargetWindow())
    before = baseline.get(route, {}).get(target, TargetWindow())
    return now.minus(before)


def error_rate_gate(
    *,
    service: TargetWindow,
    monolith: TargetWindow,
    fallbacks: TargetWindow,
    margin: float,
    min_requests: int,
) -> GateResult:
    """The service's share of failed answers (5xx, and canary requests that fell back to the
    monolith) is at most the monolith's plus `margin`; waits until both saw min_requests."""
    served = service.requests + fallbacks.requests
    failed = service.errors + fallbacks.errors
    service_rate = failed / served if served else None
    monolith_rate = monolith.error_rate
    figures = {
        "service_requests": served,
        "service_errors": failed,
        "service_error_rate": _round(service_rate),
        "monolith_requests": monolith.requests,
        "monolith_error_rate": _round(monolith_rate),
    }
    thresholds = {"error_rate_margin": margin, "min_requests": min_requests}
    if served < max(min_requests, 1) or monolith.requests < max(min_requests, 1):
        return GateResult(
            "error_rate",
            WAITING,
            figures,
            thresholds,
            [f"service {served:g} and monolith {monolith.requests:g} requests of {min_requests}"],
        )
    assert service_rate is not None and monolith_rate is not None
    if service_rate > monolith_rate + margin:
        return GateResult(
            "error_rate",
            BREACHED,
            figures,
            thresholds,
            [f"service error rate {service_rate:.4f} > monolith {monolith_rate:.4f} + {margin}"],
        )
    return GateResult("error_rate", HELD, figures, thresholds)


def latency_gate(
    *,
    service: TargetWindow,
    monolith: TargetWindow,
    margin: float,
    min_requests: int,
    quantile: float = 0.99,
) -> GateResult:
    """The service's p99 is at most the monolith's plus `margin` seconds."""
    service_p = service.quantile(quantile)
    monolith_p = monolith.quantile(quantile)
    figures = {
        "service_p99": _bound_text(service_p),
        "monolith_p99": _bound_text(monolith_p),
        "service_requests": service.requests,
        "monolith_requests": monolith.requests,
    }
    thresholds = {"p99_margin": margin, "min_requests": min_requests}
    if service.requests < max(min_requests, 1) or monolith.requests < max(min_requests, 1):
        return GateResult("latency", WAITING, figures, thresholds, ["not enough requests yet"])
    assert service_p is not None and monolith_p is not None
    if service_p > monolith_p + margin and not math.isinf(monolith_p):
        return GateResult(
            "latency",
            BREACHED,
            figures,
            thresholds,
            [f"service p99 {service_p}s > monolith p99 {monolith_p}s + {margin}s"],
        )
    return GateResult("latency", HELD, figures, thresholds)


# -- after the cutover ----------------------------------------------------------------------------


def track_behind(
    previous: Mapping[str, float], behind: Mapping[str, Mapping[str, int]], now: float
) -> dict[str, float]:
    """When each (aggregate, version) the reader has not applied was first seen unapplied.

    `previous` is the last result ({"label:id:version": first seen}); entries the reader has
    applied since drop out, new ones start at `now`.
    """
    current = {
        f"{label}:{key}:{version}"
        for label, found in behind.items()
        for key, version in found.items()
    }
    return {entry: previous.get(entry, now) for entry in current}


def consumer_lag_gate(*, first_seen: Mapping[str, float], now: float, max_lag: float) -> GateResult:
    """The oldest event the reader has not applied was first seen at most max_lag seconds ago."""
    oldest = max((now - seen for seen in first_seen.values()), default=0.0)
    figures = {"unapplied": len(first_seen), "oldest_unapplied_seconds": round(oldest, 3)}
    if oldest > max_lag:
        sample = sorted(first_seen, key=lambda entry: first_seen[entry])[:5]
        return GateResult(
            "consumer_lag",
            BREACHED,
            figures,
            {"max_consumer_lag": max_lag},
            [
                f"{len(first_seen)} events not applied by the reader, the oldest for {oldest:.1f}s "
                f"(e.g. {', '.join(sample)})"
            ],
        )
    return GateResult("consumer_lag", HELD, figures, {"max_consumer_lag": max_lag})


def dead_letters_gate(
    *, count: int | None, baseline: int, max_dead_letters: int, error: str = ""
) -> GateResult:
    """At most max_dead_letters new dead letters on the reader since the phase began."""
    thresholds = {"max_dead_letters": max_dead_letters}
    if count is None:
        return GateResult(
            "dead_letters", WAITING, {"error": error}, thresholds, [f"cannot count: {error}"]
        )
    new = max(0, count - baseline)
    figures = {"dead_letters": count, "since_phase_began": new}
    if new > max_dead_letters:
        return GateResult(
            "dead_letters",
            BREACHED,
            figures,
            thresholds,
            [f"{new} events dead-lettered by the reader since the phase began"],
        )
    return GateResult("dead_letters", HELD, figures, thresholds)


def _bound_text(value: float | None) -> float | str | None:
    """A histogram bound for JSON: +Inf has no JSON number."""
    return "+Inf" if value is not None and math.isinf(value) else value


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _show(value: Any) -> str:
    import json

    return value if value == "<missing>" else json.dumps(value, ensure_ascii=False, default=str)
