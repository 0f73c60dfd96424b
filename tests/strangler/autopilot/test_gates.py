"""Gates as pure functions: figures and thresholds in, a verdict with its evidence out."""

from __future__ import annotations

from strangler.autopilot import gates as g

METRICS = """
# TYPE gateway_requests_total counter
gateway_requests_total{route="catalog-reads",target="monolith",status="200"} 90.0
gateway_requests_total{route="catalog-reads",target="monolith",status="502"} 1.0
gateway_requests_total{route="catalog-reads",target="catalog",status="200"} 30.0
gateway_requests_total{route="catalog-reads",target="catalog",status="500"} 6.0
# TYPE gateway_request_duration_seconds histogram
gateway_request_duration_seconds_bucket{route="catalog-reads",target="monolith",le="0.01"} 80.0
gateway_request_duration_seconds_bucket{route="catalog-reads",target="monolith",le="0.1"} 91.0
gateway_request_duration_seconds_bucket{route="catalog-reads",target="monolith",le="+Inf"} 91.0
gateway_request_duration_seconds_count{route="catalog-reads",target="monolith"} 91.0
gateway_request_duration_seconds_sum{route="catalog-reads",target="monolith"} 1.0
gateway_request_duration_seconds_bucket{route="catalog-reads",target="catalog",le="0.01"} 10.0
gateway_request_duration_seconds_bucket{route="catalog-reads",target="catalog",le="0.1"} 20.0
gateway_request_duration_seconds_bucket{route="catalog-reads",target="catalog",le="+Inf"} 36.0
gateway_request_duration_seconds_count{route="catalog-reads",target="catalog"} 36.0
gateway_request_duration_seconds_sum{route="catalog-reads",target="catalog"} 20.0
# TYPE gateway_canary_fallbacks_total counter
gateway_canary_fallbacks_total{route="catalog-reads"} 4.0
"""


def test_the_gateway_metrics_give_requests_errors_and_latency_per_route_and_target() -> None:
    snapshot = g.parse_gateway_metrics(METRICS)
    service = snapshot["catalog-reads"]["catalog"]
    assert (service.requests, service.errors) == (36.0, 6.0)
    assert service.quantile(0.5) == 0.1
    assert service.quantile(0.99) == float("inf")
    assert snapshot["catalog-reads"]["monolith"].quantile(0.99) == 0.1
    assert snapshot["catalog-reads"]["fallback"].errors == 4.0


def test_a_window_counts_only_what_happened_since_the_baseline() -> None:
    now = g.parse_gateway_metrics(METRICS)
    base = {
        "catalog-reads": {
            "catalog": g.TargetWindow(6.0, 6.0, ((0.01, 0.0), (0.1, 0.0), (float("inf"), 6.0)))
        }
    }
    window = g.route_window(now, base, "catalog-reads", "catalog")
    assert (window.requests, window.errors) == (30.0, 0.0)
    assert window.quantile(0.5) == 0.1 and window.quantile(0.99) == float("inf")
    restarted = g.TargetWindow(3.0, 0.0).minus(g.TargetWindow(10.0, 1.0))
    assert restarted.requests == 3.0  # a gateway restart resets its counters


def test_a_service_failing_more_than_the_monolith_breaches_the_error_rate_gate() -> None:
    snapshot = g.parse_gateway_metrics(METRICS)
    result = g.error_rate_gate(
        service=snapshot["catalog-reads"]["catalog"],
        monolith=snapshot["catalog-reads"]["monolith"],
        fallbacks=snapshot["catalog-reads"]["fallback"],
        margin=0.01,
        min_requests=20,
    )
    assert result.verdict == g.BREACHED
    assert result.figures["service_errors"] == 10.0  # 6 answered 5xx, 4 fell back
    assert "service error rate 0.2500" in result.failures[0]


def test_the_error_rate_gate_waits_for_enough_requests() -> None:
    result = g.error_rate_gate(
        service=g.TargetWindow(5, 5),
        monolith=g.TargetWindow(100, 0),
        fallbacks=g.TargetWindow(),
        margin=0.01,
        min_requests=20,
    )
    assert result.verdict == g.WAITING


def test_a_service_within_the_margins_holds_error_rate_and_latency() -> None:
    buckets = ((0.01, 90.0), (0.1, 100.0), (float("inf"), 100.0))
    service = g.TargetWindow(100, 1, buckets)
    monolith = g.TargetWindow(100, 1, buckets)
    assert g.error_rate_gate(
        service=service, monolith=monolith, fallbacks=g.TargetWindow(), margin=0.0, min_requests=20
    ).held
    assert g.latency_gate(service=service, monolith=monolith, margin=0.0, min_requests=20).held


def test_a_slower_service_breaches_the_latency_gate() -> None:
    fast = g.TargetWindow(100, 0, ((0.01, 100.0), (0.5, 100.0), (float("inf"), 100.0)))
    slow = g.TargetWindow(100, 0, ((0.01, 10.0), (0.5, 100.0), (float("inf"), 100.0)))
    result = g.latency_gate(service=slow, monolith=fast, margin=0.1, min_requests=20)
    assert result.verdict == g.BREACHED
    assert result.figures == {
        "service_p99": 0.5,
        "monolith_p99": 0.01,
        "service_requests": 100,
        "monolith_requests": 100,
    }


MISMATCH = {
    "method": "GET",
    "path": "/api/catalog/products/",
    "differences": [{"path": "$.results[2].price", "monolith": "3.10", "service": "31.00"}],
    "error": "",
}


def test_a_wrong_answer_during_canary_breaches_and_names_the_field() -> None:
    result = g.correctness_gate(compared=4, mismatched=1, max_mismatches=0, differences=[MISMATCH])
    assert result.verdict == g.BREACHED
    assert result.figures["fields"] == ["price"]
    assert "fields: price" in result.failures[0]
    assert '$.results[2].price "3.10" -> "31.00"' in result.failures[1]


def test_the_shadow_gate_waits_for_requests_and_match_rate() -> None:
    assert (
        g.shadow_gate(requests=5, matches=5, min_requests=10, min_match_rate=0.9).verdict
        == g.WAITING
    )
    low = g.shadow_gate(
        requests=10, matches=5, min_requests=10, min_match_rate=0.9, differences=[MISMATCH]
    )
    assert low.verdict == g.WAITING and low.figures["fields"] == ["price"]
    assert g.shadow_gate(requests=10, matches=10, min_requests=10, min_match_rate=0.9).held


def test_drift_names_the_differing_field_and_persistent_drift_breaches_after_cutover() -> None:
    reports = [
        {
            "aggregate": "catalog.product",
            "drift": 1,
            "source_count": 3,
            "missing": [],
            "extra": [],
            "different": [{"id": 7, "fields": {"price": ["3.10", "31.00"]}}],
        }
    ]
    assert g.drift_gate(reports, max_drift=0).failures == ["catalog.product 7: price 3.10 -> 31.00"]
    assert g.drift_gate(reports, max_drift=0, persistent=[], breach=True).verdict == g.WAITING
    persistent = sorted(g.drift_ids(reports))
    assert persistent == ["catalog.product:7"]
    assert (
        g.drift_gate(reports, max_drift=0, persistent=persistent, breach=True).verdict == g.BREACHED
    )
    assert g.drift_gate([{**reports[0], "drift": 0, "different": []}], max_drift=0).held


def test_consumer_lag_is_the_age_of_the_oldest_event_the_reader_has_not_applied() -> None:
    seen = g.track_behind({}, {"catalog.product": {"7": 3}}, now=100.0)
    seen = g.track_behind(seen, {"catalog.product": {"7": 3, "8": 1}}, now=104.0)
    assert seen == {"catalog.product:7:3": 100.0, "catalog.product:8:1": 104.0}
    assert g.consumer_lag_gate(first_seen=seen, now=104.0, max_lag=5).held
    late = g.consumer_lag_gate(first_seen=seen, now=106.0, max_lag=5)
    assert late.verdict == g.BREACHED and late.figures["oldest_unapplied_seconds"] == 6.0
    applied = g.track_behind(seen, {"catalog.product": {"7": 4}}, now=107.0)
    assert applied == {"catalog.product:7:4": 107.0}  # version 3 applied; 4 is new


def test_new_dead_letters_breach_the_observe_phase() -> None:
    assert g.dead_letters_gate(count=3, baseline=3, max_dead_letters=0).held
    assert g.dead_letters_gate(count=4, baseline=3, max_dead_letters=0).verdict == g.BREACHED
    assert (
        g.dead_letters_gate(count=None, baseline=0, max_dead_letters=0, error="x").verdict
        == g.WAITING
    )


def test_the_overall_verdict_and_a_skipped_gate() -> None:
    waiting = g.hold_gate(1.0, 5.0)
    assert g.overall([g.hold_gate(5.0, 5.0), waiting]) == g.WAITING
    assert (
        g.overall([waiting, g.dead_letters_gate(count=1, baseline=0, max_dead_letters=0)])
        == g.BREACHED
    )
    skipped = g.skip(waiting, "the operator watched it")
    assert skipped.held and skipped.to_dict()["skipped"] == "the operator watched it"
    assert g.overall([skipped]) == g.HELD


def test_a_window_is_stored_as_strict_json_and_read_back() -> None:
    import json

    window = g.parse_gateway_metrics(METRICS)["catalog-reads"]["catalog"]
    text = json.dumps(window.to_dict(), allow_nan=False)
    assert g.TargetWindow.from_dict(json.loads(text)) == window
    slow = g.TargetWindow(30, 0, ((0.01, 0.0), (float("inf"), 30.0)))
    figures = g.latency_gate(service=slow, monolith=slow, margin=0.1, min_requests=1).figures
    assert json.dumps(figures, allow_nan=False) and figures["service_p99"] == "+Inf"
