"""The pytest plugin as a user's suite meets it: loaded by its entry point, failing bypassers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

USERS_TESTS = """
from decimal import Decimal

import pytest

from monolith.catalog.models import Product
from monolith.catalog.services import product_create

pytestmark = pytest.mark.django_db(databases=["default", "control"])


def lamp(sku):
    return product_create(sku=sku, name="Lamp", price=Decimal("1.00"), currency="EUR")


def test_rogue_update():
    product = lamp("X-1")
    Product.objects.filter(pk=product.pk).update(name="Rogue")


def test_through_the_services_only():
    lamp("X-2")


@pytest.mark.outbox_bypass_allowed
def test_allowed_to_bypass():
    Product.objects.create(sku="X-3", name="Seeded", price=1, currency="EUR")


def test_bypass_in_a_fixture_is_not_watched(seeded):
    assert seeded.pk


@pytest.fixture
def seeded(db):
    return Product.objects.create(sku="X-4", name="Fixture", price=1, currency="EUR")
"""


def test_the_plugin_fails_a_test_that_bypasses_the_outbox(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = monolith.config.settings\n"
    )
    (tmp_path / "test_users_code.py").write_text(USERS_TESTS)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # A suite of its own on SQLite: never the databases the outer run is using.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'monolith.sqlite3'}",
        "STRANGLER_CONTROL_DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite3'}",
        "STRANGLER_VAR_DIR": str(tmp_path / "var"),
    }

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--outbox-bypass-guard",
            f"--rootdir={tmp_path}",
            "-c",
            str(tmp_path / "pytest.ini"),
            str(tmp_path / "test_users_code.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "1 failed, 3 passed" in output, output
    assert "FAILED test_users_code.py::test_rogue_update" in output
    assert "outbox bypass: the test changed tracked rows without recording their events" in output
    assert "catalog_product (catalog.product): rows 1" in output
    line = (
        USERS_TESTS.splitlines().index(
            '    Product.objects.filter(pk=product.pk).update(name="Rogue")'
        )
        + 1
    )
    assert f"UPDATE at test_users_code.py:{line} in test_rogue_update" in output
