"""`extract_context customers` generates a service that checks, migrates, tests and lints clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from strangler.seams.contract import context_contract, current_openapi_schema
from tests.processes import ROOT
from tests.strangler.seams.conftest import extract, service_env

PYTHON = sys.executable


def run_in(service: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = service_env(service.name, service.parent)
    return subprocess.run(
        [PYTHON, *argv], cwd=service, env=env, capture_output=True, text=True, timeout=300
    )


def test_generated_service_has_the_reference_shape(customers_service: Path) -> None:
    for relative in [
        "manage.py",
        "config/settings.py",
        "config/urls.py",
        "customers/apps.py",
        "customers/models.py",
        "customers/apis.py",
        "customers/urls.py",
        "customers/selectors.py",
        "customers/filters.py",
        "customers/handlers.py",
        "customers/events.py",
        "config/celery.py",
        "customers/services.py",
        "customers/migrations/0001_initial.py",
        "tests/test_api_contract.py",
        "tests/test_handlers.py",
    ]:
        assert (customers_service / relative).is_file(), relative
    settings = (customers_service / "config/settings.py").read_text()
    assert 'url_variable="CUSTOMERS_DATABASE_URL",' in settings
    assert 'handlers="customers.customers.handlers.HANDLERS",' in settings
    assert "monolith" not in (customers_service / "customers/apis.py").read_text().split('"""')[2]


def test_generated_service_passes_the_system_checks(customers_service: Path) -> None:
    result = run_in(customers_service, "manage.py", "check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_generated_migrations_match_the_generated_models(customers_service: Path) -> None:
    result = run_in(customers_service, "manage.py", "makemigrations", "--check", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_tests_pass(customers_service: Path) -> None:
    result = run_in(customers_service, "-m", "pytest", "-q")

    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary and "failed" not in summary


def test_generated_code_passes_ruff(customers_service: Path) -> None:
    config = str(ROOT / "pyproject.toml")
    for argv in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [PYTHON, "-m", "ruff", *argv, "--config", config, str(customers_service)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_openapi_of_the_generated_paths_matches_the_monolith(customers_service: Path) -> None:
    schema_file = customers_service.parent / "service-openapi.json"
    result = run_in(
        customers_service,
        "manage.py",
        "spectacular",
        "--format",
        "openapi-json",
        "--file",
        str(schema_file),
    )
    assert result.returncode == 0, result.stderr

    service = context_contract(json.loads(schema_file.read_text()), "/api/customers/")
    monolith = context_contract(current_openapi_schema(), "/api/customers/")

    assert sorted(service["paths"]) == ["/api/customers/", "/api/customers/{customer_id}/"]
    assert service == monolith


def test_existing_service_is_kept_unless_forced(customers_service: Path) -> None:
    models = customers_service / "customers" / "models.py"
    models.write_text(models.read_text() + "# edited by hand\n")
    (customers_service / "notes.txt").write_text("added by hand\n")

    refused = extract("customers", customers_service)
    assert refused.returncode != 0
    assert "already exist; nothing was written. Use --force" in refused.stderr
    assert models.read_text().endswith("# edited by hand\n")

    forced = extract("customers", customers_service, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "# edited by hand" not in models.read_text()
    assert not (customers_service / "notes.txt").exists(), "--force replaces the whole folder"
    assert (customers_service / "customers" / "migrations" / "0001_initial.py").is_file()
    assert "Next steps:" in forced.stdout


def test_a_failed_generation_writes_nothing(tmp_path: Path) -> None:
    # A variable only the generated service reads, and refuses: its `manage.py check` fails.
    broken = {"CUSTOMERS_INBOX_BATCH_SIZE": "many"}

    result = extract("customers", tmp_path / "customers", env=broken)

    assert result.returncode != 0
    assert "CUSTOMERS_INBOX_BATCH_SIZE='many' is not an integer" in result.stderr
    assert "Nothing was written." in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_failed_forced_generation_keeps_the_old_service(tmp_path: Path) -> None:
    out = tmp_path / "customers"
    assert extract("customers", out, "--no-migrations").returncode == 0
    models = out / "customers" / "models.py"
    models.write_text(models.read_text() + "# edited by hand\n")

    result = extract("customers", out, "--force", env={"CUSTOMERS_INBOX_BATCH_SIZE": "many"})

    assert result.returncode != 0
    assert models.read_text().endswith("# edited by hand\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers"]


def test_relations_to_other_contexts_become_plain_ids(tmp_path: Path) -> None:
    out = tmp_path / "orders"
    result = extract("orders", out, "--no-migrations")
    assert result.returncode == 0, result.stderr

    models = (out / "orders" / "models.py").read_text()
    assert "# Was a ForeignKey to customers.Customer (another context): a plain id now." in models
    assert "customer_id = models.BigIntegerField(db_index=True)" in models
    assert "product_id = models.BigIntegerField(db_index=True)" in models
    assert "customers.Customer" not in models.replace(
        "# Was a ForeignKey to customers.Customer", ""
    )
    assert "refers to another context's model" in result.stdout


def test_unknown_app_is_refused(tmp_path: Path) -> None:
    result = extract("payments", tmp_path / "payments")

    assert result.returncode != 0
    assert "No installed app 'payments'" in result.stderr
    assert not (tmp_path / "payments").exists()
