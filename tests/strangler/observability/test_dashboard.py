"""The migration dashboard: staff only outside DEBUG, one JSON for the page and for tools."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from strangler.observability.dashboard import dashboard_data, phase
from strangler.sync.models import ReconcileResult

pytestmark = pytest.mark.django_db(databases="__all__")


def test_outside_debug_only_staff_see_the_dashboard(settings) -> None:
    settings.DEBUG = False
    client = Client()
    assert client.get("/strangler/dashboard.json").status_code == 403
    page = client.get("/strangler/dashboard/")
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
    user = get_user_model().objects.create_user("clerk", password="x")
    client.force_login(user)
    assert client.get("/strangler/dashboard.json").status_code == 403
    user.is_staff = True
    user.save()
    assert client.get("/strangler/dashboard.json").status_code == 200
    assert b"dashboard.json" in client.get("/strangler/dashboard/").content


def test_the_json_names_every_context_with_its_newest_reconcile(settings) -> None:
    settings.DEBUG = True
    for drift in (3, 0):
        ReconcileResult.objects.create(
            context="catalog",
            aggregate="product",
            source="local",
            target="http://127.0.0.1:8002",
            drift=drift,
            finished_at=timezone.now(),
        )
    body = Client().get("/strangler/dashboard.json").json()
    catalog = next(c for c in body["contexts"] if c["context"] == "catalog")
    assert catalog["context"] == "catalog" and catalog["writer"] == "monolith"
    assert [(r["aggregate"], r["drift"]) for r in catalog["reconcile"]] == [("product", 0)]
    assert {side["name"] for side in catalog["sides"]} == {"monolith", "catalog-service"}
    assert body["cutover_runs"] == [] and body["shadow"] == []
    phases = {c["context"]: c["phase"] for c in dashboard_data()["contexts"]}
    assert phases["catalog"] == "filled"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"frozen": True}, "cutting over"),
        ({"writer": "catalog-service"}, "service writes"),
        ({"routes": [{"mode": "shadow"}, {"mode": "canary"}]}, "canary"),
        ({"routes": [{"mode": "shadow"}]}, "shadow"),
        ({"routes": [{"mode": "service"}]}, "routed"),
        ({"routes": [{"mode": "monolith"}]}, "publishing"),
    ],
)
def test_the_phase_follows_the_writer_then_the_routes(status: dict, expected: str) -> None:
    base = {
        "writer": "monolith",
        "frozen": False,
        "sides": [{"name": "monolith"}, {"name": "catalog-service"}],
        "routes": [],
        "reconcile": [],
    }
    assert phase({**base, **status}) == expected
