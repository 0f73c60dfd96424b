"""Each benchmark end to end with tiny sizes, on the real servers, so that none of them rots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT
from tests.servers import require_tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def run_quick(name: str, tmp_path: Path, postgres_url: str, rabbitmq_url: str) -> dict:
    results = tmp_path / "results"
    docs = tmp_path / "docs" / "benchmarks.md"
    docs.parent.mkdir()
    env = {**os.environ, "POSTGRES_URL": postgres_url, "RABBITMQ_URL": rabbitmq_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.run_all", "--quick", "--only", name),
            *("--budget", "400", "--results-dir", str(results), "--docs", str(docs)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    summary = json.loads((results / "summary.json").read_text())
    assert summary["errors"] == {}
    page = docs.read_text()
    assert f"bench-{name}.png" in page
    assert (docs.parent / "images" / f"bench-{name}.png").stat().st_size > 1000
    return {"summary": summary, "result": json.loads((results / f"{name}.json").read_text())}


def test_sync_benchmark_measures_kit_limit_and_django_cqrs(
    tmp_path: Path, postgres_url: str, rabbitmq_url: str
) -> None:
    out = run_quick("sync", tmp_path, postgres_url, rabbitmq_url)
    throughput = out["result"]["throughput"]
    assert set(throughput) == {"strangler-kit", "limit (hand-written)", "django-cqrs"}
    for name, row in throughput.items():
        assert row["drained"], (name, row)
        assert row["events_per_second"] > 0
    assert out["summary"]["sync"]["kit_over_limit"] > 0
    assert out["summary"]["sync"]["kit_over_peer"] > 0
    large = out["result"]["throughput_large"]
    assert set(large) == {"strangler-kit", "limit (hand-written)"}
    assert all(row["drained"] and row["applied"] == 600 for row in large.values()), large
    assert out["summary"]["sync"]["kit_over_limit_600"] > 0
    for pipeline in ("kit", "limit"):
        for role in ("relay", "consumer"):
            assert out["summary"]["sync"][f"{pipeline}_{role}_cpu_us_per_event"] > 0
    for role in ("relay", "consumer"):  # django-cqrs's one-shot publisher ends mid-drain:
        cpu = throughput["django-cqrs"][f"{role}_cpu_us_per_event"]  # no figure, not a wrong one
        assert cpu is None or cpu > 0, (role, cpu)
    half = out["result"]["lag"]["strangler-kit"]["50%"]
    assert half["applied"] == half["written"] > 0
    assert half["p99_ms"] >= half["p50_ms"] > 0


def test_gateway_benchmark_measures_every_path(
    tmp_path: Path, postgres_url: str, rabbitmq_url: str
) -> None:
    require_tool("wrk", "wrk")
    require_tool("nginx", "nginx-light")
    out = run_quick("gateway", tmp_path, postgres_url, rabbitmq_url)
    saturation = out["result"]["saturation"]
    assert set(saturation) == {
        "direct",
        "gateway monolith",
        "gateway shadow",
        "gateway canary 50",
        "nginx",
        "django-revproxy",
    }
    for name, row in saturation.items():
        assert row["requests_per_second"] > 0, name
        assert row["errors"] == 0 and row["non_2xx"] == 0, (name, row)
    assert out["summary"]["gateway"]["over_nginx"] > 0
    assert out["summary"]["gateway"]["added_p50_ms"] is not None


def test_replay_benchmark_compares_backfill_and_replay_with_copy(
    tmp_path: Path, postgres_url: str, rabbitmq_url: str
) -> None:
    out = run_quick("replay", tmp_path, postgres_url, rabbitmq_url)
    result = out["result"]
    assert result["backfill"]["finished"] and result["replay"]["finished"]
    assert result["replay"]["applied"] == result["backfill"]["applied"] == result["events"]
    assert result["copy"]["rows_per_second"] > result["replay"]["events_per_second"] > 0
    assert out["summary"]["replay"]["over_copy"] > 0


def test_reconcile_benchmark_finds_the_ten_drifted_rows(
    tmp_path: Path, postgres_url: str, rabbitmq_url: str
) -> None:
    out = run_quick("reconcile", tmp_path, postgres_url, rabbitmq_url)
    assert out["result"]["reconcile_equal"]["equal"] is True
    assert out["summary"]["reconcile"]["seconds_equal"] > 0
    assert 0 < out["summary"]["reconcile"]["rows_read_fraction_10_drift"] <= 1


def test_copy_fill_benchmark_fills_the_projection_and_compares_with_copy(
    tmp_path: Path, postgres_url: str, rabbitmq_url: str
) -> None:
    out = run_quick("copy_fill", tmp_path, postgres_url, rabbitmq_url)
    result = out["result"]
    phase = result["copy_phase"]
    assert phase["rows"] == phase["written"] == result["rows"] == 2000
    assert phase["finished"] is True
    assert result["copy"]["rows_per_second"] > 0 and result["pass_through"]["rows_per_second"] > 0
    assert out["summary"]["copy_fill"]["over_copy"] > 0


def test_cutover_benchmark_counts_client_503s_with_and_without_the_hold(
    tmp_path: Path, postgres_url: str, rabbitmq_url: str
) -> None:
    out = run_quick("cutover", tmp_path, postgres_url, rabbitmq_url)
    result = out["result"]
    assert result["copy_phase"]["rows"] == result["products"] == 500
    assert set(result["cutovers"]) == {"service", "monolith"}
    for measured in result["cutovers"].values():
        assert set(measured["clients"]) == {"hold_off", "hold_on"}
        for numbers in measured["clients"].values():
            assert numbers["writes"] > 0 and numbers["redirects"] == 0, numbers
    cutover = out["summary"]["cutover"]
    assert cutover["products"] == 500
    assert cutover["ejections"] == 0 and cutover["circuit_opens"] == 0, cutover
    for client in ("hold_off", "hold_on"):
        seen = sum(m["clients"][client]["answers_503"] for m in result["cutovers"].values())
        assert cutover[f"answers_503_{client}"] == seen
