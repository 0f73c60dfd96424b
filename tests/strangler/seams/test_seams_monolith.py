"""`seams` on the monolith: the known cross-context relations, and nothing that is not there."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps as registry
from django.core.management import CommandError, call_command

from strangler.seams.analysis import RELATION_KINDS, analyse, model_graph_from_registry
from strangler.seams.conf import DEFAULT_WEIGHTS
from tests.processes import ROOT

CONTEXTS = ["catalog", "inventory", "customers", "orders"]


@pytest.fixture(scope="module")
def report() -> dict:
    out = StringIO()
    call_command("seams", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_default_apps_are_the_four_contexts(report: dict) -> None:
    assert sorted(report["apps"]) == sorted(CONTEXTS)


def test_known_cross_context_relations_are_reported(report: dict) -> None:
    relations = {
        (e["source"], e["target"], e["kind"], e["detail"])
        for e in report["edges"]
        if e["kind"] in RELATION_KINDS
    }

    assert relations == {
        ("orders", "catalog", "foreign_key", "orders.OrderLine.product -> catalog.Product"),
        ("orders", "customers", "foreign_key", "orders.Order.customer -> customers.Customer"),
        ("inventory", "orders", "foreign_key", "inventory.Reservation.order -> orders.Order"),
        ("inventory", "catalog", "one_to_one", "inventory.StockItem.product -> catalog.Product"),
    }


def test_every_edge_points_at_a_line_that_holds_the_coupling(report: dict) -> None:
    """Nothing spurious: each edge's file and line really name the other context."""
    assert report["edges"]
    for edge in report["edges"]:
        line = (ROOT / edge["file"]).read_text().splitlines()[edge["line"] - 1]
        if edge["kind"] == "import":
            assert "import" in line and f"monolith.{edge['target']}" in line, (edge, line)
        elif edge["kind"] in RELATION_KINDS:
            field = edge["detail"].split(" -> ")[0].rsplit(".", 1)[1]
            assert line.strip().startswith(f"{field} ="), (edge, line)
        else:
            accessor = edge["detail"].split(" -> ")[0].rsplit(".", 1)[1]
            assert accessor in line, (edge, line)
        assert edge["source"] in CONTEXTS and edge["target"] in CONTEXTS
        assert edge["source"] != edge["target"]


def test_imports_across_contexts_match_the_source(report: dict) -> None:
    imports = [e for e in report["edges"] if e["kind"] == "import"]
    expected = set()
    for context in CONTEXTS:
        package = ROOT / "monolith" / context
        for path in package.rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                for other in CONTEXTS:
                    stripped = line.strip()
                    if other != context and stripped.startswith(
                        (f"from monolith.{other}", f"import monolith.{other}")
                    ):
                        expected.add((context, other, path.relative_to(ROOT).as_posix(), number))

    assert {(e["source"], e["target"], e["file"], e["line"]) for e in imports} == expected


def test_customers_is_suggested_before_orders(report: dict) -> None:
    order = [c["app"] for c in report["contexts"]]

    assert order.index("customers") < order.index("orders")
    assert report["contexts"][0]["reason"].endswith("least coupled: extract first")


def test_analysis_is_a_pure_function_of_the_registry_and_the_source() -> None:
    graph = model_graph_from_registry(registry.get_app_configs())
    first = analyse(graph, CONTEXTS, ROOT, DEFAULT_WEIGHTS, ("migrations",))
    second = analyse(graph, CONTEXTS, ROOT, DEFAULT_WEIGHTS, ("migrations",))

    assert first == second
    assert all(Path(ROOT / edge.file).is_file() for edge in first.edges)


def test_a_single_app_has_no_seams_to_show() -> None:
    with pytest.raises(CommandError, match="at least two apps"):
        call_command("seams", "--apps", "catalog")


def test_bypass_report_finds_only_the_demo_seeder_in_the_shop() -> None:
    """Services record their events and the catalog's inbox handlers are left out: the bulk
    writes that remain are `monolith/common/seeding.py`, which fills an empty demo database."""
    out = StringIO()
    call_command("seams", "--bypass", "--json", stdout=out)
    report = json.loads(out.getvalue())

    assert report["bypasses"]
    assert {b["file"] for b in report["bypasses"]} == {"monolith/common/seeding.py"}
    # Bulk fills, and the update that links the demo users to their customers.
    assert {b["kind"] for b in report["bypasses"]} == {"bulk_create", "bulk_update", "update"}
    # STRANGLER_INBOX["HANDLERS"] merges each context's HANDLERS: all of them are left out.
    assert report["skipped"] == [
        "monolith.catalog.handlers",
        "monolith.config.inbox",
        "monolith.inventory.handlers",
        "monolith.orders.handlers",
    ]
