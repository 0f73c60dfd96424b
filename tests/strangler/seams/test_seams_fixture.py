"""`seams` on a fixture project with planted couplings reports exactly those, with file and line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from strangler.seams.analysis import EDGE_KINDS
from tests.processes import ROOT, base_env

FIXTURE = ROOT / "tests" / "fixtures" / "seams_project"
PLANTED = re.compile(r"# planted: (\w+) (\w+)->(\w+)")


def run_seams(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command in its own process: Django settings are per process."""
    argv = [sys.executable, "-m", "django", "seams", *args]
    argv.append("--settings=tests.fixtures.seams_project.settings")
    return subprocess.run(
        argv, cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=60
    )


def seams_json(*args: str) -> dict:
    result = run_seams("--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def planted_edges() -> set[tuple[str, str, str, str, int]]:
    """(source, target, kind, file, line) for every `# planted:` comment in the fixture."""
    planted = set()
    for path in sorted(FIXTURE.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            match = PLANTED.search(text)
            if match:
                kind, source, target = match.groups()
                planted.add((source, target, kind, path.relative_to(FIXTURE).as_posix(), number))
    return planted


def reported(report: dict) -> set[tuple[str, str, str, str, int]]:
    return {(e["source"], e["target"], e["kind"], e["file"], e["line"]) for e in report["edges"]}


def test_fixture_plants_every_kind_of_coupling() -> None:
    assert {edge[2] for edge in planted_edges()} == set(EDGE_KINDS)
    assert len(planted_edges()) == 16


def test_reports_exactly_the_planted_couplings_with_file_and_line() -> None:
    report = seams_json()

    assert report["apps"] == ["shop", "crm", "billing"]
    assert reported(report) == planted_edges()


def test_lookalikes_inside_one_app_or_through_an_id_column_are_not_reported() -> None:
    report = seams_json()
    quiet = {
        (path.relative_to(FIXTURE).as_posix(), number)
        for path in FIXTURE.rglob("*.py")
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if "not a seam" in text.lower()
    }

    assert len(quiet) >= 6
    assert not quiet & {(e["file"], e["line"]) for e in report["edges"]}


def test_each_edge_names_what_couples_the_two_apps() -> None:
    details = {(e["file"], e["line"]): e["detail"] for e in seams_json()["edges"]}

    assert details[("billing/models.py", 19)] == "billing.Invoice.customer -> crm.Customer"
    assert details[("crm/services.py", 7)] == (
        "from tests.fixtures.seams_project.shop.signals import product_repriced"
    )
    assert details[("crm/services.py", 12)] == ".invoices: crm.Customer.invoices -> billing.Invoice"
    assert "sent by crm.Customer" in details[("billing/receivers.py", 27)]
    assert "signal defined in shop" in details[("crm/services.py", 20)]


def test_scores_are_the_weighted_sum_and_the_order_is_least_coupled_first() -> None:
    report = seams_json()
    weights = report["weights"]
    contexts = report["contexts"]

    for context in contexts:
        edges = [e for e in report["edges"] if context["app"] in (e["source"], e["target"])]
        assert context["score"] == sum(weights[e["kind"]] for e in edges)
        assert context["reason"]
    assert [c["score"] for c in contexts] == sorted(c["score"] for c in contexts)
    assert [c["order"] for c in contexts] == [1, 2, 3]
    assert contexts[-1]["app"] == "billing"
    assert contexts[-1]["reason"].endswith("most coupled: extract last")


def test_ignored_apps_and_their_edges_are_left_out() -> None:
    report = seams_json("--ignore", "shop")

    assert report["apps"] == ["crm", "billing"]
    assert reported(report) == {e for e in planted_edges() if "shop" not in e[:2]}


def test_apps_option_chooses_what_is_analysed() -> None:
    report = seams_json("--apps", "billing", "shop")

    assert report["apps"] == ["billing", "shop"]
    assert reported(report) == {e for e in planted_edges() if "crm" not in e[:2]}


def test_unknown_app_is_refused_with_the_installed_labels() -> None:
    result = run_seams("--apps", "billing", "payments")

    assert result.returncode != 0
    assert "Unknown app label(s): payments" in result.stderr
    assert "billing" in result.stderr


def test_table_lists_contexts_order_and_edges_with_locations() -> None:
    result = run_seams()

    assert result.returncode == 0, result.stderr
    assert "Suggested extraction order" in result.stdout
    assert "billing/models.py:19" in result.stdout
    assert "score = sum over inbound and outbound edges" in result.stdout


def test_mermaid_diagram_has_one_arrow_per_coupled_pair() -> None:
    result = run_seams("--format", "mermaid")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart LR"
    arrows = [line.strip() for line in lines if "-->" in line]
    assert len(arrows) == 5
    assert 'billing -->|"1 FK, 1 1:1, 2 ORM, 1 signal, 1 import"| crm' in arrows


def test_dot_diagram_is_valid_graphviz_text(tmp_path: Path) -> None:
    output = tmp_path / "seams.dot"
    result = run_seams("--format", "dot", "--output", str(output))

    assert result.returncode == 0, result.stderr
    dot = output.read_text()
    assert dot.startswith("digraph seams {") and dot.rstrip().endswith("}")
    assert '"crm" -> "shop" [label="1 M2M, 1 signal, 1 import"' in dot
    if shutil.which("dot"):
        checked = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_png_is_rendered_with_graphviz_or_refused_with_how_to_install(tmp_path: Path) -> None:
    output = tmp_path / "seams.png"
    result = run_seams("--format", "png", "--output", str(output))

    if shutil.which("dot"):
        assert result.returncode == 0, result.stderr
        assert output.read_bytes().startswith(b"\x89PNG")
    else:
        assert result.returncode != 0
        assert "apt-get install graphviz" in result.stderr


@pytest.mark.parametrize("image_format", ["png", "svg"])
def test_image_formats_need_an_output_file(image_format: str) -> None:
    result = run_seams("--format", image_format)

    assert result.returncode != 0
    assert "--output FILE" in result.stderr
