"""Shadow results in the database: totals, stored diffs, and the shadow_report command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from strangler.gateway.compare import CapturedResponse, compare_responses
from strangler.gateway.jsonpath import parse_path
from strangler.gateway.models import Backend, Instance, Route, ShadowMismatch
from strangler.gateway.selectors import routing_table_from_db, shadow_report
from strangler.gateway.services import shadow_results_clear, shadow_results_record
from strangler.gateway.shadow import ShadowResult

pytestmark = pytest.mark.django_db

JSON = {"content-type": "application/json"}


def result(
    route: str, monolith: dict, service: dict, path: str = "/api/catalog/products/"
) -> ShadowResult:
    comparison = compare_responses(
        CapturedResponse(200, JSON, json.dumps(monolith).encode()),
        CapturedResponse(200, JSON, json.dumps(service).encode()),
        ignore=[parse_path("$.results[*].updated_at")],
        headers=("content-type",),
    )
    return ShadowResult(
        route=route,
        method="GET",
        path=path,
        matched=comparison.matched,
        monolith_status=200,
        service_status=200,
        differences=comparison.differences,
    )


def product(price: str, updated: str) -> dict:
    return {"results": [{"id": 1, "price": price, "updated_at": updated}]}


def test_report_shows_counts_match_rate_and_the_top_difference() -> None:
    batch = [result("catalog", product("10.00", "a"), product("10.00", "b")) for _ in range(3)]
    batch.append(result("catalog", product("10.00", "a"), product("12.00", "a")))
    shadow_results_record(results=batch)
    shadow_results_record(results=[result("catalog", product("10.00", "a"), product("12.00", "c"))])

    (report,) = shadow_report()
    assert (report.requests, report.matches, report.mismatches) == (5, 3, 2)
    assert report.match_rate == pytest.approx(0.6)
    (top,) = report.top_differences
    assert top.pattern == "$.results[*].price" and top.count == 2
    assert top.example == '$.results[0].price: "10.00" -> "12.00"'
    stored = ShadowMismatch.objects.first()
    assert stored.diff == '$.results[0].price: "10.00" -> "12.00"'


def test_service_errors_are_counted_and_reported() -> None:
    error = ShadowResult(
        "catalog", "GET", "/x", False, 200, None, error="UpstreamTimeout: too slow"
    )
    shadow_results_record(results=[error])
    (report,) = shadow_report()
    assert report.errors == 1
    assert report.top_differences[0].pattern == "error: UpstreamTimeout"


def test_shadow_report_command_prints_text_and_json() -> None:
    shadow_results_record(results=[result("catalog", product("1", "a"), product("2", "a"))])
    text = StringIO()
    call_command("shadow_report", stdout=text)
    assert "catalog: 1 requests, 0 matched (0.0%), 1 differed" in text.getvalue()
    assert '$.results[0].price: "1" -> "2"' in text.getvalue()
    data = StringIO()
    call_command("shadow_report", "--json", stdout=data)
    (route,) = json.loads(data.getvalue())["routes"]
    assert route["route"] == "catalog" and route["match_rate"] == 0.0


def test_reset_clears_one_route() -> None:
    shadow_results_record(
        results=[
            result("a", product("1", "a"), product("2", "a")),
            result("b", product("1", "a"), product("2", "a")),
        ]
    )
    assert shadow_results_clear(route="a") == 1
    assert [r.route for r in shadow_report()] == ["b"]


def test_routing_table_from_the_database_is_validated_like_the_file() -> None:
    monolith = Backend.objects.create(name="monolith")
    Instance.objects.create(backend=monolith, url="http://127.0.0.1:8001")
    catalog = Backend.objects.create(name="catalog", balance="least_outstanding")
    Instance.objects.create(backend=catalog, url="http://127.0.0.1:8002")
    Instance.objects.create(backend=catalog, url="http://127.0.0.1:8003", enabled=False)
    Route.objects.create(
        position=2, prefix="/api/catalog/", mode="canary", percent=20, service=catalog
    )
    Route.objects.create(
        position=1,
        prefix="/api/catalog/",
        methods=["GET", "HEAD"],
        mode="shadow",
        service=catalog,
        ignore=["$.results[*].updated_at"],
    )
    Route.objects.create(position=0, prefix="/off/", mode="service", service=catalog, enabled=False)

    table = routing_table_from_db()
    assert [r.mode for r in table.routes] == ["shadow", "canary"]
    assert table.backends["catalog"].urls == ("http://127.0.0.1:8002",)
    assert table.backends["catalog"].balance == "least_outstanding"
    assert table.match("GET", "/api/catalog/x").mode == "shadow"
