"""What migration_status reports about a context, read from the control database and both sides."""

from __future__ import annotations

from typing import Any

from django.apps import apps

from strangler.cutover.runs import CutoverError, open_side
from strangler.cutover.selectors import versions_behind
from strangler.ownership.conf import ownership_settings
from strangler.ownership.selectors import context_state, last_cutover
from strangler.sync.internal_api import PeerError


def context_status(
    context: str, *, peer_url: str | None = None, versions: bool = True
) -> dict[str, Any]:
    """Writer, freeze, last cutover run, each side's backlog and lag, and how far the reader is."""
    spec = ownership_settings().context(context)
    state = context_state(context, max_age=0)
    status: dict[str, Any] = {**state.as_dict(), "sides": [], "reader_behind": None}
    run = last_cutover(context)
    if run is not None:
        status["last_cutover"] = {
            "id": run.id,
            "source": run.source,
            "target": run.target,
            "state": run.state,
            "step": run.step,
            "error": run.error,
        }
    sides = {}
    for name in spec.sides:
        try:
            side = open_side(name, context, peer_url=peer_url)
            sides[name] = side
            status["sides"].append(side.state(context, dead_letters=True).as_dict())
        except (PeerError, CutoverError) as exc:
            status["sides"].append({"name": name, "error": str(exc)})
    reader = next(name for name in spec.sides if name != state.writer)
    if versions and state.writer in sides and reader in sides:
        try:
            issued = sides[state.writer].issued_versions(context)
            behind = versions_behind(issued, sides[reader].applied_versions(context))
            status["reader_behind"] = sum(len(found) for found in behind.values())
        except PeerError as exc:
            status["reader_behind_error"] = str(exc)
    for side in sides.values():
        side.close()
    if apps.is_installed("strangler.sagas"):
        from strangler.sagas.selectors import sagas_status

        status["sagas"] = sagas_status(context)
    if apps.is_installed("strangler.autopilot"):
        from strangler.autopilot.selectors import autopilot_status

        status["autopilot"] = autopilot_status(context)
    return status
