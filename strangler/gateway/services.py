"""Writes of the gateway app: shadow results, and clearing them."""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.db.models import F

from strangler.gateway.models import ShadowMismatch, ShadowStats
from strangler.gateway.shadow import ShadowResult


@transaction.atomic
def shadow_results_record(*, results: list[ShadowResult]) -> None:
    """Add a batch of comparisons to the per-route totals and store every mismatch."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    mismatches: list[ShadowMismatch] = []
    for result in results:
        total = totals[result.route]
        total[0] += 1
        if result.error:
            total[3] += 1
        elif result.matched:
            total[1] += 1
        else:
            total[2] += 1
        if not result.matched:
            mismatches.append(
                ShadowMismatch(
                    route=result.route,
                    method=result.method,
                    path=result.path[:4000],
                    monolith_status=result.monolith_status,
                    service_status=result.service_status,
                    differences=[d.to_dict() for d in result.differences],
                    diff="\n".join(str(d) for d in result.differences) or result.error,
                    error=result.error,
                )
            )
    for route, (requests, matches, mismatched, errors) in totals.items():
        ShadowStats.objects.get_or_create(route=route)
        ShadowStats.objects.filter(route=route).update(
            requests=F("requests") + requests,
            matches=F("matches") + matches,
            mismatches=F("mismatches") + mismatched,
            errors=F("errors") + errors,
        )
    ShadowMismatch.objects.bulk_create(mismatches)


@transaction.atomic
def shadow_results_clear(*, route: str | None = None) -> int:
    """Forget totals and mismatches (of one route, or all); returns the mismatches deleted."""
    stats = ShadowStats.objects.all()
    rows = ShadowMismatch.objects.all()
    if route:
        stats, rows = stats.filter(route=route), rows.filter(route=route)
    stats.delete()
    deleted, _ = rows.delete()
    return deleted
