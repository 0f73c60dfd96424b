"""The benchmark harness's pure parts: percentiles, tables, paced writing, the targets table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.common import BenchError, Table, percentile, ratio
from bench.gateway import mean_run
from bench.render import render, targets_table
from bench.workload import paced, product_snapshot


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 50) == 25.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 99) == pytest.approx(39.7)


def test_percentile_of_nothing_is_an_error_not_zero() -> None:
    with pytest.raises(BenchError):
        percentile([], 50)


def test_ratio_is_none_when_a_side_is_missing() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(3.0, 0.0) is None


def test_a_ratio_of_run_means_is_taken_before_anything_is_rounded() -> None:
    # The last make bench of ca52e63: nginx's two runs 0.135 and 0.100 ms a request averaged to
    # 0.1175, which rounded to 0.118 before the gateway's 0.236 was divided by it (2.0, not 2.009).
    gateway = mean_run([{"proxy_cpu_ms_per_request": 0.206}, {"proxy_cpu_ms_per_request": 0.266}])
    nginx = mean_run([{"proxy_cpu_ms_per_request": 0.135}, {"proxy_cpu_ms_per_request": 0.100}])
    assert nginx["proxy_cpu_ms_per_request"] == pytest.approx(0.1175)
    assert ratio(gateway["proxy_cpu_ms_per_request"], nginx["proxy_cpu_ms_per_request"]) == 2.009


def test_table_renders_aligned_text_and_markdown_and_round_trips() -> None:
    table = Table("Rates", ["pipeline", "events/s"])
    table.add("kit", 1234.5)
    table.add("limit", None)
    text = table.text().splitlines()
    assert text[0] == "Rates"
    assert text[3].startswith("kit ") and text[3].endswith("1,234")
    assert table.markdown().splitlines()[-1] == "| limit | — |"
    assert Table.from_dict(table.to_dict()) == table


def test_table_refuses_a_row_of_the_wrong_width() -> None:
    with pytest.raises(BenchError):
        Table("t", ["a", "b"]).add(1)


def test_paced_writer_writes_the_rate_in_commits_and_stops_at_the_count() -> None:
    calls: list[tuple[int, int]] = []
    run = paced(500, 0.2, lambda first, count: calls.append((first, count)))
    assert run.written == 100
    assert sum(count for _, count in calls) == 100
    assert [first for first, _ in calls] == sorted(first for first, _ in calls)
    assert run.seconds == pytest.approx(0.2, abs=0.1)


def test_product_snapshot_is_a_valid_catalog_event_payload() -> None:
    from strangler.contracts import registry

    registry.validate("catalog.product.upserted", 1, product_snapshot(42))


def test_targets_table_says_which_targets_are_met() -> None:
    table = targets_table({"sync": {"kit_over_limit": 0.95, "kit_over_peer": 1.5}})
    met = {row[0]: row[2] for row in table.rows}
    assert met["sync throughput ≥ 0.9x the limit pipeline"] == "yes"
    assert met["sync throughput ≥ 2x django-cqrs"] == "no"
    assert met["replay ≥ 0.5x COPY"] == "—"


def test_the_cutover_section_shows_client_503s_with_the_hold_off_and_on(tmp_path: Path) -> None:
    from bench.cutover import tables

    client = {"writes": 90, "writes_refused": 1, "longest_write_seconds": 1.2, "redirects": 0}
    measured = {
        "wall_seconds": 6.0,
        "frozen_seconds": 1.0,
        "step_seconds": {"freeze": 0.04, "flip": 0.02},
        "clients": {
            "hold_off": {**client, "answers_503": 44},
            "hold_on": {**client, "answers_503": 0, "writes_refused": 0},
        },
    }
    result = {"products": 2000, "freeze_hold_seconds": 5.0, "cutovers": {"service": measured}}
    results = tmp_path / "results"
    results.mkdir()
    document = {**result, "tables": [t.to_dict() for t in tables(result)]}
    (results / "cutover.json").write_text(json.dumps(document))

    page = render(results, tmp_path / "docs" / "benchmarks.md", tmp_path / "docs" / "images")

    text = page.read_text()
    section = text[text.index("## Cutover under client writes") :]
    assert "![Cutover under client writes](images/bench-cutover.png)" in section
    rows = [line for line in section.splitlines() if line.startswith("| to service |")]
    assert [row.split("|")[2:5] for row in rows[1:3]] == [
        [" off ", " 90 ", " 44 "],
        [" on ", " 90 ", " 0 "],
    ]
    assert (tmp_path / "docs" / "images" / "bench-cutover.png").stat().st_size > 0
