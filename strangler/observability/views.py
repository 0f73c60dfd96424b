"""Probes (/healthz, /readyz), Prometheus /metrics, and the migration dashboard (page and JSON)."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import Context, Engine
from django.urls import NoReverseMatch, reverse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: every configured database answers a trivial query."""
    failures = {}
    for alias in connections:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            logger.warning("readiness check failed", extra={"database": alias, "error": str(exc)})
            failures[alias] = str(exc)
    if failures:
        return JsonResponse({"status": "unavailable", "databases": failures}, status=503)
    return JsonResponse({"status": "ok"})


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of the process's default registry."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


DASHBOARD_REFRESH_SECONDS = 2


def _dashboard_allowed(request: HttpRequest) -> bool:
    """Anyone while DEBUG is on (the demo); staff only otherwise."""
    user = getattr(request, "user", None)
    return settings.DEBUG or bool(user is not None and user.is_active and user.is_staff)


def dashboard(request: HttpRequest) -> HttpResponse:
    """The migration dashboard: a page that polls dashboard.json (no build step, no assets)."""
    if not _dashboard_allowed(request):
        try:
            login = reverse("admin:login")
        except NoReverseMatch:
            login = settings.LOGIN_URL
        return redirect_to_login(request.get_full_path(), login)
    engine = Engine(dirs=[str(Path(__file__).parent / "templates")], autoescape=True)
    page = engine.get_template("strangler/dashboard.html").render(
        Context(
            {"json_url": reverse("strangler-dashboard-json"), "interval": DASHBOARD_REFRESH_SECONDS}
        )
    )
    return HttpResponse(page)


def dashboard_json(request: HttpRequest) -> JsonResponse:
    """The dashboard's figures as JSON, for the page and for other tools."""
    if not _dashboard_allowed(request):
        return JsonResponse({"error": "staff only (log in to the admin first)"}, status=403)
    from strangler.observability.dashboard import dashboard_data

    return JsonResponse(dashboard_data(), json_dumps_params={"default": str})
