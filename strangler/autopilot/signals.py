"""The signals the autopilot's gates read, one function each, from the kit's own sources.

Every figure comes from where migration_status and the dashboard read it (the cutover's side
states over the internal API, reconcile, the shadow store, the gateway's metrics and routing
table, the inbox's dead-letter queue), so that a gate and the dashboard never disagree. When a
shared source of these figures lands, each function here switches to it alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from strangler.autopilot.gates import GatewaySnapshot, parse_gateway_metrics
from strangler.cutover.runs import open_side
from strangler.cutover.selectors import SideState, VersionMap, context_specs, versions_behind
from strangler.ownership.conf import ownership_settings
from strangler.ownership.selectors import context_state
from strangler.sync.conf import sync_settings
from strangler.sync.reconcile import reconcile_aggregate, reconcile_result_record

logger = logging.getLogger(__name__)

# A probe whose answers differ is asked again, both sides, every PROBE_CONFIRM_DELAY seconds for
# up to PROBE_CONFIRM_WINDOW seconds. The service answers right when it gives an answer the
# monolith gave in that window: under steady writes the service trails the monolith by the
# pipeline's lag, so its answer seldom equals the monolith's of the same instant, but it does
# pass through each of the monolith's states. A wrong answer (a price the monolith never had) is
# one the monolith gave at no time; lag itself is judged by the observe phase's lag gate.
PROBE_CONFIRM_DELAY = 0.15
PROBE_CONFIRM_WINDOW = 1.5


class SignalUnavailable(RuntimeError):
    """A signal cannot be read right now (a side or the gateway does not answer)."""


def writer(context: str) -> str:
    """The side that writes the context now (read from the control database, never cached)."""
    return context_state(context, max_age=0).writer


def sides_of(context: str) -> tuple[str, str]:
    """(monolith, service) names of the context."""
    return ownership_settings().context(context).sides


def side_states(context: str, *, dead_letters: bool = False) -> dict[str, SideState]:
    """Each side's outbox backlog, row counts and (asked for) dead-letter depth."""
    found = {}
    for name in sides_of(context):
        side = open_side(name, context)
        try:
            found[name] = side.state(context, dead_letters=dead_letters)
        finally:
            side.close()
    return found


def versions_unapplied(context: str) -> VersionMap:
    """The aggregates whose last version the writer issued and the reader has not applied."""
    state_writer = writer(context)
    reader = next(name for name in sides_of(context) if name != state_writer)
    issuer, applier = open_side(state_writer, context), open_side(reader, context)
    try:
        return versions_behind(issuer.issued_versions(context), applier.applied_versions(context))
    finally:
        issuer.close()
        applier.close()


def reconcile(context: str, *, record: bool = True) -> list[dict[str, Any]]:
    """Reconcile both stores of the context now (the writer is the source); each aggregate's
    report as `reconcile --json` prints it, kept for the dashboard unless record=False."""
    conf = sync_settings()
    source_name = writer(context)
    target_name = next(name for name in sides_of(context) if name != source_name)
    source_side, target_side = open_side(source_name, context), open_side(target_name, context)
    source, target = source_side.sync_peer(), target_side.sync_peer()
    reports = []
    try:
        for spec in context_specs(context):
            report = reconcile_aggregate(
                spec,
                source=source,
                target=target,
                fanout=conf.reconcile_fanout,
                leaf_rows=conf.reconcile_leaf_rows,
            )
            if record:
                reconcile_result_record(spec, report, source=source.name, target=target.name)
            reports.append({**report.as_dict(), "drift": report.drift})
    finally:
        for closing in (source, target, source_side, target_side):
            closing.close()
    return reports


def shadow_totals(route: str) -> dict[str, int]:
    """The shadow store's running totals of a route, and the id of its newest mismatch."""
    from strangler.gateway.models import ShadowMismatch, ShadowStats

    row = ShadowStats.objects.filter(route=route).first()
    newest = ShadowMismatch.objects.filter(route=route).order_by("-id").values_list("id", flat=True)
    totals = {"requests": 0, "matches": 0, "mismatches": 0, "errors": 0}
    if row is not None:
        totals = {key: int(getattr(row, key)) for key in totals}
    return {**totals, "last_mismatch_id": int(newest.first() or 0)}


def shadow_mismatches(route: str, *, after_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The route's mismatches stored after `after_id`, newest first, with their differences."""
    from strangler.gateway.models import ShadowMismatch

    rows = ShadowMismatch.objects.filter(route=route, id__gt=after_id).order_by("-id")[:limit]
    return [
        {
            "id": row.id,
            "method": row.method,
            "path": row.path,
            "monolith_status": row.monolith_status,
            "service_status": row.service_status,
            "differences": row.differences,
            "error": row.error,
        }
        for row in rows
    ]


def gateway_metrics(gateway_url: str) -> GatewaySnapshot:
    """The gateway's request counts, 5xx and latency histograms per route and target."""
    if not gateway_url:
        raise SignalUnavailable(
            "the canary gates read the gateway's metrics: set STRANGLER_AUTOPILOT['GATEWAY_URL']."
        )
    from strangler.gateway.conf import gateway_settings

    token = gateway_settings().registration_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{gateway_url}/metrics", headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        raise SignalUnavailable(f"the gateway's metrics at {gateway_url}: {exc}") from exc
    if response.status_code != 200:
        raise SignalUnavailable(f"the gateway's metrics answered {response.status_code}")
    return parse_gateway_metrics(response.text)


@dataclass(frozen=True)
class ProbeOutcome:
    """One round of probes: how many were compared, and the ones that differed (as
    shadow_mismatches lists them, with no id)."""

    compared: int
    differences: list[dict[str, Any]]

    @property
    def mismatched(self) -> int:
        return len(self.differences)


def probe_answers(route_name: str, paths: Sequence[str], *, timeout: float) -> ProbeOutcome:
    """Send each path to the monolith and to the route's service, compare the answers as the
    gateway compares a shadow (the route's ignore rules), and keep them in the shadow store.

    A canary route mirrors nothing, so this is how wrong answers show while a share of clients
    already reads from the service.
    """
    from strangler.gateway.compare import CapturedResponse, compare_responses
    from strangler.gateway.conf import gateway_settings
    from strangler.gateway.services import shadow_results_record
    from strangler.gateway.shadow import ShadowResult
    from strangler.gateway.sources import routing_source

    gateway = gateway_settings()
    table = routing_source(gateway.routes).load()
    route = next((r for r in table.routes if r.name == route_name), None)
    if route is None or route.service is None:
        raise SignalUnavailable(f"the routing table has no route {route_name!r} with a service")
    monolith = table.backends["monolith"].urls[0]
    service = table.backends[route.service].urls[0]
    headers = (
        route.compare_headers
        if route.compare_headers is not None
        else gateway.shadow_compare_headers
    )

    def get(client: httpx.Client, base: str, path: str) -> CapturedResponse:
        response = client.get(f"{base}{path}", headers={"X-Strangler-Shadow": "1"})
        return CapturedResponse(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )

    def compare(reference: CapturedResponse, candidate: CapturedResponse) -> Any:
        return compare_responses(
            reference, candidate, ignore=list(route.ignore), headers=tuple(headers)
        )

    def probe(client: httpx.Client, path: str) -> ShadowResult:
        seen: list[CapturedResponse] = []  # the monolith's answers in the window, oldest first
        first = None
        deadline = time.monotonic() + PROBE_CONFIRM_WINDOW
        while True:
            try:
                seen.append(get(client, monolith, path))
            except httpx.HTTPError as exc:
                if not seen:
                    raise SignalUnavailable(
                        f"the monolith does not answer {path}: {type(exc).__name__}: {exc}"
                    ) from exc
            try:
                answer = get(client, service, path)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                return ShadowResult(route.name, "GET", path, False, seen[0].status, None, [], error)
            # Newest first: the monolith's latest state is the likeliest match.
            comparisons = [(reference, compare(reference, answer)) for reference in seen[::-1]]
            for reference, comparison in comparisons:
                if comparison.matched:
                    return ShadowResult(
                        route.name, "GET", path, True, reference.status, answer.status, []
                    )
            if first is None:
                reference, comparison = comparisons[0]
                first = ShadowResult(
                    route.name,
                    "GET",
                    path,
                    False,
                    reference.status,
                    answer.status,
                    comparison.differences,
                )
            if time.monotonic() + PROBE_CONFIRM_DELAY > deadline:
                return first  # the differences as first seen
            time.sleep(PROBE_CONFIRM_DELAY)

    results = []
    with httpx.Client(timeout=timeout) as client:
        for path in paths:
            results.append(probe(client, path))
    shadow_results_record(results=results)
    differing = [
        {
            "method": r.method,
            "path": r.path,
            "monolith_status": r.monolith_status,
            "service_status": r.service_status,
            "differences": [d.to_dict() for d in r.differences],
            "error": r.error,
        }
        for r in results
        if not r.matched
    ]
    return ProbeOutcome(len(results), differing)


def dead_letters(context: str, side: str) -> tuple[int | None, str]:
    """(depth of the side's inbox dead-letter queue, error text when it cannot be counted)."""
    state = side_states(context, dead_letters=True)[side]
    return state.dead_letters, state.dead_letters_error
