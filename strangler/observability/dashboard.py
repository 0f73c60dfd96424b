"""The migration dashboard's figures, from the same reads as migration_status and shadow_report."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

RECENT_CUTOVER_RUNS = 10


def dashboard_data() -> dict[str, Any]:
    """Every context's phase, writer, routes, backlog, lag, dead letters and last reconcile; the
    shadow report per route; recent cutover runs. The JSON of /strangler/dashboard.json."""
    from strangler.cutover.status import context_status
    from strangler.gateway.selectors import shadow_report
    from strangler.ownership.conf import OwnershipConfigurationError, ownership_settings

    routes, routes_error = _routes()
    shadow = [report.to_dict() for report in shadow_report(top=5)]
    try:
        names = sorted(ownership_settings().contexts)
    except OwnershipConfigurationError as exc:
        return _page([], shadow, routes_error or "", str(exc))
    contexts = []
    for name in names:
        # versions=False: comparing every aggregate's version is for the command, not a poll.
        status = context_status(name, versions=False)
        status["routes"] = [route for route in routes if _route_context(route) == name]
        status["reconcile"] = _last_reconciles(name)
        status["phase"] = phase(status)
        contexts.append(status)
    return _page(contexts, shadow, routes_error, None)


def _page(
    contexts: list[dict[str, Any]],
    shadow: list[dict[str, Any]],
    routes_error: str | None,
    error: str | None,
) -> dict[str, Any]:
    return {
        "generated_at": timezone.now().isoformat(),
        "contexts": contexts,
        "shadow": shadow,
        "routes_error": routes_error,
        "cutover_runs": _recent_cutover_runs(),
        "error": error,
    }


def phase(status: dict[str, Any]) -> str:
    """Where a context stands in the journey, from its writer and its routes' modes."""
    service = next((side["name"] for side in status["sides"][1:]), None)
    if status.get("frozen"):
        return "cutting over"
    if service is not None and status.get("writer") == service:
        return "service writes"
    modes = {route["mode"] for route in status.get("routes", [])}
    for mode, name in (("service", "routed"), ("canary", "canary"), ("shadow", "shadow")):
        if mode in modes:
            return name
    if status.get("reconcile"):
        return "filled"
    return "publishing"


def _routes() -> tuple[list[dict[str, Any]], str | None]:
    """The gateway's routing table as configured (STRANGLER_GATEWAY['ROUTES'])."""
    from strangler.gateway.conf import gateway_settings
    from strangler.gateway.routing import RoutingConfigError
    from strangler.gateway.sources import routing_source

    try:
        table = routing_source(gateway_settings().routes).load()
    except (RoutingConfigError, OSError) as exc:
        return [], str(exc)
    found = []
    for route in table.routes:
        entry = route.to_dict()
        entry["context"] = route.context
        entry["percent"] = route.percent if route.mode == "canary" else None
        found.append(entry)
    return found, None


def _route_context(route: dict[str, Any]) -> str | None:
    if route.get("context"):
        return route["context"]
    return route["name"]


def _last_reconciles(context: str) -> list[dict[str, Any]]:
    from strangler.sync.models import ReconcileResult

    newest: dict[str, dict[str, Any]] = {}
    for row in ReconcileResult.objects.filter(context=context).order_by("-id")[:50]:
        newest.setdefault(
            row.aggregate,
            {
                "aggregate": row.aggregate,
                "drift": row.drift,
                "missing": row.missing,
                "extra": row.extra,
                "different": row.different,
                "source": row.source,
                "target": row.target,
                "source_count": row.source_count,
                "target_count": row.target_count,
                "finished_at": row.finished_at.isoformat(),
            },
        )
    return sorted(newest.values(), key=lambda entry: entry["aggregate"])


def _recent_cutover_runs() -> list[dict[str, Any]]:
    from strangler.ownership.models import CutoverRun

    return [
        {
            "id": run.id,
            "context": run.context,
            "source": run.source,
            "target": run.target,
            "state": run.state,
            "step": run.step,
            "error": run.error,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        }
        for run in CutoverRun.objects.order_by("-id")[:RECENT_CUTOVER_RUNS]
    ]
