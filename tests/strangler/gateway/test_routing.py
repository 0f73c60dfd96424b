"""The routing table: parsing the YAML reference example, matching, canary stickiness."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from strangler.gateway.routing import (
    DEFAULT_ROUTE,
    RoutingConfigError,
    canary_bucket,
    goes_to_service,
    load_routing_file,
    parse_routing_table,
)

REFERENCE = """
backends:
  monolith: ["http://127.0.0.1:8001"]
  catalog: ["http://127.0.0.1:8002", "http://127.0.0.1:8003"]
routes:
  - prefix: /api/catalog/
    methods: [GET, HEAD]
    mode: shadow            # monolith | shadow | canary | service
    service: catalog
    ignore: ["$.results[*].updated_at"]
  - prefix: /api/catalog/
    mode: canary
    percent: 20
    service: catalog
"""


@pytest.fixture
def reference_table(tmp_path: Path):
    path = tmp_path / "routes.yaml"
    path.write_text(REFERENCE)
    return load_routing_file(path)


def test_the_documented_reference_example_loads(reference_table) -> None:
    assert reference_table.backends["catalog"].urls == (
        "http://127.0.0.1:8002",
        "http://127.0.0.1:8003",
    )
    shadow, canary = reference_table.routes
    assert shadow.mode == "shadow" and shadow.methods == {"GET", "HEAD"}
    assert [p.expression for p in shadow.ignore] == ["$.results[*].updated_at"]
    assert canary.mode == "canary" and canary.percent == 20 and canary.methods is None


def test_first_matching_route_wins_and_the_default_is_the_monolith(reference_table) -> None:
    assert reference_table.match("GET", "/api/catalog/products/").mode == "shadow"
    assert reference_table.match("POST", "/api/catalog/products/").mode == "canary"
    assert reference_table.match("GET", "/api/orders/") is DEFAULT_ROUTE
    assert DEFAULT_ROUTE.mode == "monolith"


def test_shadow_mirrors_only_safe_methods_unless_the_route_opts_in() -> None:
    table = parse_routing_table(
        {
            "backends": {"monolith": ["http://a:1"], "svc": ["http://b:2"]},
            "routes": [
                {"prefix": "/x/", "mode": "shadow", "service": "svc"},
                {"prefix": "/y/", "mode": "shadow", "service": "svc", "mirror_unsafe": True},
            ],
        }
    )
    x, y = table.routes
    assert x.mirrors("GET") and not x.mirrors("POST")
    assert y.mirrors("POST")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"backends": {"svc": ["http://a:1"]}}, "must include 'monolith'"),
        ({"backends": {"monolith": ["ftp://a"]}}, "not an http"),
        ({"backends": {"monolith": ["http://a:1/path"]}}, "must not have a path"),
        ({"backends": {"monolith": ["http://u:p@a:1"]}}, "credentials"),
        ({"backends": {"monolith": []}, "routes": [{"prefix": "x"}]}, "starting with '/'"),
        (
            {"backends": {"monolith": []}, "routes": [{"prefix": "/", "mode": "blue"}]},
            "mode 'blue'",
        ),
        (
            {"backends": {"monolith": []}, "routes": [{"prefix": "/", "mode": "service"}]},
            "needs 'service'",
        ),
        (
            {
                "backends": {"monolith": []},
                "routes": [{"prefix": "/", "mode": "service", "service": "nope"}],
            },
            "not among the backends",
        ),
        (
            {
                "backends": {"monolith": [], "s": []},
                "routes": [{"prefix": "/", "mode": "canary", "service": "s", "percent": 120}],
            },
            "between 0 and 100",
        ),
        (
            {
                "backends": {"monolith": [], "s": []},
                "routes": [{"prefix": "/", "mode": "shadow", "service": "s", "ignore": ["$..x"]}],
            },
            "ignore",
        ),
        ({"backends": {"monolith": []}, "routes": [{"prefix": "/", "colour": 1}]}, "unknown keys"),
        ({"backend": {}}, "unknown top-level"),
    ],
)
def test_bad_tables_are_refused_with_a_message_that_says_where(data: dict, message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        parse_routing_table(data, source="routes.yaml")


def test_a_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(RoutingConfigError, match="cannot read"):
        load_routing_file(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("backends: [")
    with pytest.raises(RoutingConfigError, match="not valid YAML"):
        load_routing_file(broken)


def test_canary_of_20_percent_sends_20_percent_of_5000_clients_sticky(reference_table) -> None:
    canary = reference_table.routes[1]
    keys = [str(uuid.uuid4()) for _ in range(5000)]
    decisions = {key: goes_to_service(canary, key) for key in keys}
    share = sum(decisions.values()) / len(keys)
    assert 0.18 <= share <= 0.22
    assert all(goes_to_service(canary, key) == side for key, side in decisions.items())


def test_raising_the_canary_share_only_adds_clients() -> None:
    table = parse_routing_table(
        {
            "backends": {"monolith": [], "s": []},
            "routes": [
                {"prefix": "/a/", "mode": "canary", "service": "s", "percent": 10},
                {"prefix": "/a/", "mode": "canary", "service": "s", "percent": 30},
            ],
        }
    )
    low, high = table.routes
    keys = [f"client-{n}" for n in range(2000)]
    assert {k for k in keys if goes_to_service(low, k)} <= {
        k for k in keys if goes_to_service(high, k)
    }


def test_buckets_cover_the_whole_range_evenly() -> None:
    buckets = [canary_bucket(f"k{n}", "/salt/") for n in range(20000)]
    assert min(buckets) >= 0 and max(buckets) <= 9999
    assert 0.45 <= sum(b < 5000 for b in buckets) / len(buckets) <= 0.55
