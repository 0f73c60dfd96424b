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

_ID_MAX = 2**63 - 1  # a bigint id; JSON's 1e400 or 1.5 is a 400 naming the floor, not a 500


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
    timeout = body.get("timeout", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
        raise ValueError(f"'timeout' must be seconds from 0 to 3600, not {timeout!r}")
    return {"fenced_by": services.fence_writes(context, timeout=timeout)}


def prepare(context: str, body: dict[str, Any]) -> dict[str, Any]:
    """Seed version counters and advance id sequences past the given floors."""
    floors = body.get("floors")
    if not isinstance(floors, dict):
        raise ValueError("'floors' must be {aggregate type: highest id}")
    known = {spec.label for spec in selectors.context_specs(context)}
    unknown = sorted(set(floors) - known)
    if unknown:
        raise ValueError(
            f"'floors' names {', '.join(unknown)}, not an aggregate of {context} "
            f"(it has {', '.join(sorted(known))})"
        )
    for label, value in floors.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _ID_MAX:
            raise ValueError(f"floors[{label!r}] must be an id from 0 to {_ID_MAX}, not {value!r}")
    return services.prepare_writer(context, floors)


state_view = _endpoint(state)
issued_view = _endpoint(issued)
applied_view = _endpoint(applied)
fence_view = _endpoint(fence)
prepare_view = _endpoint(prepare)
