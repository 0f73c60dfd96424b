"""/internal/cutover/: what the other side's cutover command asks this side, token-protected.

Same authentication as /internal/sync/ (X-Strangler-Token, STRANGLER_INTERNAL_TOKEN; refused
without a token unless DEBUG is on).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from strangler.cutover import selectors, services
from strangler.cutover.sides import version_pairs
from strangler.sync.conf import UnknownAggregate, sync_settings
from strangler.sync.views import TOKEN_META_KEY

logger = logging.getLogger(__name__)


def _refusal(request: HttpRequest) -> JsonResponse | None:
    token = sync_settings().internal_token
    if not token:
        if settings.DEBUG:
            return None
        return JsonResponse(
            {"error": "STRANGLER_INTERNAL_TOKEN is not set on this side."}, status=403
        )
    given = request.META.get(TOKEN_META_KEY, "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        logger.warning("internal cutover request with a wrong or missing token")
        return JsonResponse({"error": "missing or wrong X-Strangler-Token."}, status=403)
    return None


def _endpoint(handler: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Callable[..., Any]:
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest, context: str) -> JsonResponse:
        refusal = _refusal(request)
        if refusal is not None:
            return refusal
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return JsonResponse(handler(context, body))
        except UnknownAggregate as exc:
            return JsonResponse({"error": str(exc)}, status=404)
        except services.FenceTimeout as exc:
            return JsonResponse({"error": str(exc)}, status=409)
        except (ValueError, TypeError) as exc:
            return JsonResponse({"error": f"bad request: {exc}"}, status=400)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


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
