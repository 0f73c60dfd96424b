"""Unit tests of the seams analysis: scoring, ordering, and the source scanner's inference."""

from __future__ import annotations

import ast
from pathlib import Path

from strangler.seams.analysis import (
    Edge,
    ModelGraph,
    ModelInfo,
    ModuleScanner,
    Relation,
    coupling_score,
    score_contexts,
)

WEIGHTS = {"foreign_key": 5, "one_to_one": 5, "many_to_many": 5, "orm": 3, "signal": 3, "import": 1}


def edge(source: str, target: str, kind: str, line: int = 1) -> Edge:
    return Edge(source, target, kind, f"{source}/x.py", line, "")


def test_score_is_the_weighted_sum_of_edge_counts() -> None:
    assert coupling_score({"foreign_key": 2, "import": 3, "orm": 1}, WEIGHTS) == 16


def test_least_coupled_context_comes_first() -> None:
    edges = [edge("b", "a", "foreign_key"), edge("c", "b", "import"), edge("c", "a", "import")]

    contexts = score_contexts(["a", "b", "c"], edges, WEIGHTS)

    assert [(c.app, c.score) for c in contexts] == [("c", 2), ("b", 6), ("a", 6)]
    assert contexts[0].reason.endswith("least coupled: extract first")


def test_ties_go_to_the_context_fewer_relations_point_at() -> None:
    # x and y both score 5; x is pointed at by a relation, y points out.
    edges = [edge("y", "x", "foreign_key")]

    contexts = score_contexts(["x", "y"], edges, WEIGHTS)

    assert [c.app for c in contexts] == ["y", "x"]


def test_an_uncoupled_context_says_so() -> None:
    contexts = score_contexts(["lonely", "a", "b"], [edge("a", "b", "import")], WEIGHTS)

    assert contexts[0].app == "lonely"
    assert contexts[0].reason == "no couplings to other contexts: extract it any time"


def graph() -> ModelGraph:
    def model(label: str, module: str, **relations: Relation) -> ModelInfo:
        app, name = label.split(".")
        return ModelInfo(
            label,
            app,
            name,
            module,
            None,
            ("objects",),
            "id",
            frozenset({"id", "name"}),
            relations,
            relations,
        )

    models = {
        "shop.Product": model("shop.Product", "proj.shop.models"),
        "sales.Sale": model(
            "sales.Sale", "proj.sales.models", product=Relation("product", "shop.Product", False)
        ),
    }
    return ModelGraph(
        models,
        {"shop": "proj.shop", "sales": "proj.sales"},
        {"shop": Path("/p/shop"), "sales": Path("/p/sales")},
    )


def scan(source: str, module: str = "proj.sales.services") -> list[Edge]:
    scanner = ModuleScanner(graph(), ["shop", "sales"], "sales", module, "sales/services.py")
    return scanner.scan(ast.parse(source), is_package=False)


def test_relative_imports_are_resolved_against_the_package() -> None:
    edges = scan("from ..shop.models import Product\nfrom .models import Sale\n")

    assert [(e.target, e.kind, e.line, e.detail) for e in edges] == [
        ("shop", "import", 1, "from proj.shop.models import Product")
    ]


def test_querysets_are_followed_through_variables_shortcuts_and_loops() -> None:
    source = """
from proj.sales.models import Sale
from django.shortcuts import get_object_or_404

def f(pk):
    sales = Sale.objects.all()
    one = get_object_or_404(sales, product__name="x")
    for sale in sales.filter(pk=pk):
        sale.product
    return sales.values("product__name"), one
"""
    orm = [(e.line, e.detail) for e in scan(source) if e.kind == "orm"]

    assert orm == [
        (7, "get_object_or_404('product__name'): sales.Sale.product -> shop.Product"),
        (9, ".product: sales.Sale.product -> shop.Product"),
        (10, "values('product__name'): sales.Sale.product -> shop.Product"),
    ]


def test_comparing_a_relation_by_id_does_not_cross() -> None:
    source = """
from proj.sales.models import Sale

def f(product):
    return Sale.objects.filter(product=product, product__in=[1], product__id=2, product_id=3)
"""
    assert [e for e in scan(source) if e.kind == "orm"] == []
