"""The monolith as a project: migrations in step with models, probes, OpenAPI schema and docs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

from tests.monolith.factories import CategoryFactory
from tests.processes import ROOT

pytestmark = pytest.mark.django_db

API_PATHS = {
    "/api/catalog/categories/",
    "/api/catalog/categories/{category_id}/",
    "/api/catalog/products/",
    "/api/catalog/products/{product_id}/",
    "/api/inventory/stock/",
    "/api/inventory/stock/adjust/",
    "/api/inventory/stock/{stock_id}/",
    "/api/inventory/stock/{stock_id}/adjustments/",
    "/api/customers/",
    "/api/customers/{customer_id}/",
    "/api/orders/",
    "/api/orders/{order_id}/",
    "/api/orders/{order_id}/cancel/",
    "/api/orders/{order_id}/transition/",
}


def test_migrations_are_in_step_with_the_models():
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_liveness_and_readiness_probes_answer(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_openapi_schema_documents_every_path(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) >= API_PATHS
    products = schema["paths"]["/api/catalog/products/"]
    assert {"get", "post"} <= set(products)
    params = {p["name"] for p in products["get"]["parameters"]}
    assert {"search", "ordering", "category", "active", "min_price", "page_size"} <= params


def test_openapi_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns any warning about our views into an error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    assert "/api/orders/{order_id}/transition/" in (tmp_path / "schema.yaml").read_text()


def test_swagger_ui_is_served_from_the_installed_sidecar(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_the_openapi_schema_does_not_depend_on_the_data(client):
    before = client.get("/api/schema/?format=json").json()
    CategoryFactory.create_batch(3)
    after = client.get("/api/schema/?format=json").json()
    assert after == before
    parameters = after["paths"]["/api/catalog/products/"]["get"]["parameters"]
    category = next(p for p in parameters if p["name"] == "category")
    assert category["schema"] == {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "maximum": 2**63 - 1,
    }


def test_check_deploy_with_production_settings_reports_no_errors():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="false", SECRET_KEY="x" * 60 + "-production-like", ALLOWED_HOSTS="shop.test")
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ERRORS" not in done.stdout + done.stderr
