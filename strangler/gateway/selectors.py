"""Reads of the gateway app: the shadow report, and the routing table stored in the database."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from strangler.gateway.models import Backend, Route, ShadowMismatch, ShadowStats
from strangler.gateway.routing import RoutingTable, parse_routing_table

_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class TopDifference:
    pattern: str
    count: int
    example: str


@dataclass(frozen=True)
class RouteShadowReport:
    route: str
    requests: int
    matches: int
    mismatches: int
    errors: int
    top_differences: list[TopDifference] = field(default_factory=list)

    @property
    def match_rate(self) -> float | None:
        return self.matches / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "requests": self.requests,
            "matches": self.matches,
            "mismatches": self.mismatches,
            "errors": self.errors,
            "match_rate": self.match_rate,
            "top_differences": [d.__dict__ for d in self.top_differences],
        }


def shadow_report(
    *, route: str | None = None, top: int = 5, sample: int = 1000
) -> list[RouteShadowReport]:
    """Per route: totals, match rate and the most frequent differences among recent mismatches."""
    stats = ShadowStats.objects.all()
    if route:
        stats = stats.filter(route=route)
    reports = []
    for row in stats:
        counts: Counter[str] = Counter()
        examples: dict[str, str] = {}
        recent = ShadowMismatch.objects.filter(route=row.route).values_list("differences", "error")[
            :sample
        ]
        for differences, error in recent:
            if error:
                key = f"error: {error.split(':', 1)[0]}"
                counts[key] += 1
                examples.setdefault(key, error)
            for difference in differences:
                key = _INDEX.sub("[*]", difference["path"])
                counts[key] += 1
                examples.setdefault(key, _render(difference))
        reports.append(
            RouteShadowReport(
                route=row.route,
                requests=row.requests,
                matches=row.matches,
                mismatches=row.mismatches,
                errors=row.errors,
                top_differences=[
                    TopDifference(pattern, count, examples[pattern])
                    for pattern, count in counts.most_common(top)
                ],
            )
        )
    return reports


def _render(difference: dict[str, Any]) -> str:
    import json

    def show(value: Any) -> str:
        return value if value == "<missing>" else json.dumps(value, ensure_ascii=False, default=str)

    return f"{difference['path']}: {show(difference['monolith'])} -> {show(difference['service'])}"


def routing_table_from_db() -> RoutingTable:
    """The enabled routes and backends stored in the database, validated like a YAML file."""
    backends = {
        backend.name: {
            "instances": [i.url for i in backend.instances.all() if i.enabled],
            **({"balance": backend.balance} if backend.balance else {}),
            **({"health_path": backend.health_path} if backend.health_path else {}),
        }
        for backend in Backend.objects.prefetch_related("instances")
    }
    routes = []
    for row in Route.objects.filter(enabled=True).select_related("service"):
        route: dict[str, Any] = {"prefix": row.prefix, "mode": row.mode}
        if row.name:
            route["name"] = row.name
        if row.methods:
            route["methods"] = row.methods
        if row.service:
            route["service"] = row.service.name
        if row.mode == Route.Mode.CANARY:
            route["percent"] = row.percent
        if row.ignore:
            route["ignore"] = row.ignore
        if row.mirror_unsafe:
            route["mirror_unsafe"] = True
        if row.client_key:
            route["client_key"] = row.client_key
        if row.context:
            route["context"] = row.context
        if row.mode == Route.Mode.DENY:
            route["status"] = row.status
        routes.append(route)
    return parse_routing_table({"backends": backends, "routes": routes}, source="database")
