"""/internal/cutover/: what the other side's cutover command asks this side.

Served through strangler.sync.internal_api, like /internal/sync/: the shared token
(STRANGLER_INTERNAL_TOKEN) and the protocol version are checked there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strangler.cutover import selectors, services
from strangler.cutover.sides import version_pairs
from strangler.sync.conf import UnknownAggregate
from strangler.sync.internal_api import internal_endpoint


def _endpoint(handler: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Callable[..., Any]:
    def answer(body: dict[str, Any], context: str) -> dict[str, Any]:
        return handler(context, body)

    answer.__name__ = handler.__name__
    answer.__doc__ = handler.__doc__
    return internal_endpoint(answer, statuses={UnknownAggregate: 404, services.FenceTimeout: 409})


def state(context: str, body: dict[str, Any]) -> dict[str, Any]:
    """This side's backlog, inbox progress, counts and highest ids for the context."""
    return selectors.side_state(context, dead_letters=bool(body.get("dead_letters"))).as_dict()


def issued(context: str, body: dict[str, Any]) -> dict[str, Any]:
    """The last version this side issued per aggregate."""
    return {"versions": version_pairs(selectors.issued_versions(context))}


def applied(context: str, body: dict[str, Any]) -> dict[str, Any]:
    """The newest version this side has per aggregate (optionally only for some ids)."""
    ids = body.get("ids")
    if ids is not None and not isinstance(ids, dict):
        raise ValueError("'ids' must be {aggregate type: [id, ...]}")
    return {"versions": version_pairs(selectors.applied_versions(context, ids))}


def fence(context: str, body: dict[str, Any]) -> dict[str, Any]:
    """Wait for the write transactions in flight on this side."""
    timeout = float(body.get("timeout", 60))
    return {"fenced_by": services.fence_writes(context, timeout=timeout)}


def prepare(context: str, body: dict[str, Any]) -> dict[str, Any]:
    """Seed version counters and advance id sequences past the given floors."""
    floors = body.get("floors")
    if not isinstance(floors, dict):
        raise ValueError("'floors' must be {aggregate type: highest id}")
    return services.prepare_writer(context, {k: int(v) for k, v in floors.items()})


state_view = _endpoint(state)
issued_view = _endpoint(issued)
applied_view = _endpoint(applied)
fence_view = _endpoint(fence)
prepare_view = _endpoint(prepare)
