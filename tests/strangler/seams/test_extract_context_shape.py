"""`extract_context` makes the one shape the kit drives, for every context of the shop.

Each generated service passes `check`, `makemigrations --check` and the project's ruff; the one
generated from the catalog has the same installed apps, settings, middleware and URLs as the
hand-kept extracted/catalog/, names aside: generator and reference service cannot drift apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT, base_env
from tests.strangler.seams.conftest import contracts_only_path, extract, service_env

PYTHON = sys.executable
CONTEXTS = ["catalog", "inventory", "customers", "orders"]

# Printed by a subprocess that loads one service's settings and URLconf.
SHAPE_SCRIPT = """
import json, sys
import django
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

django.setup()
module = sys.modules[settings.SETTINGS_MODULE]


def routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern) + " " + str(pattern.name)


print(json.dumps({
    "keys": sorted(name for name in vars(module) if name.isupper()),
    "INSTALLED_APPS": list(settings.INSTALLED_APPS),
    "MIDDLEWARE": list(settings.MIDDLEWARE),
    "DATABASES": sorted(settings.DATABASES),
    "DATABASE_ROUTERS": list(settings.DATABASE_ROUTERS),
    "STRANGLER_OWNERSHIP": settings.STRANGLER_OWNERSHIP,
    "STRANGLER_SYNC": sorted(settings.STRANGLER_SYNC["CONTEXTS"]["catalog"]),
    "STRANGLER_CONTRACTS": settings.STRANGLER_CONTRACTS,
    "STRANGLER_INBOX": sorted(settings.STRANGLER_INBOX),
    "REST_FRAMEWORK": settings.REST_FRAMEWORK,
    "urls": list(routes(get_resolver().url_patterns)),
}))
"""


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def shape(settings_module: str, path: list[Path], env: dict[str, str]) -> dict[str, Any]:
    """The shape of a service, read by importing its settings in a process of its own."""
    env = {**env, "DJANGO_SETTINGS_MODULE": settings_module}
    env["PYTHONPATH"] = ":".join(str(p) for p in path)
    result = run([PYTHON, "-c", SHAPE_SCRIPT], ROOT, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def named_apart(value: Any, package: str) -> Any:
    """The shape with the service's package written `<package>`: only names may differ."""
    return json.loads(json.dumps(value).replace(f'"{package}.', '"<package>.'))


@pytest.mark.parametrize("context", CONTEXTS)
def test_generated_service_checks_migrates_and_lints_clean(context: str, tmp_path: Path) -> None:
    out = tmp_path / context
    result = extract(context, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging left behind"
    env = service_env(context, tmp_path)
    manage = str(out / "manage.py")

    check = run([PYTHON, manage, "check"], out, env)
    assert check.returncode == 0, check.stdout + check.stderr
    migrations = run([PYTHON, manage, "makemigrations", "--check", "--dry-run"], out, env)
    assert migrations.returncode == 0, migrations.stdout + migrations.stderr
    config = str(ROOT / "pyproject.toml")
    for argv in (["check"], ["format", "--check"]):
        lint = run([PYTHON, "-m", "ruff", *argv, "--config", config, str(out)], ROOT, env)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_generated_catalog_has_the_shape_of_extracted_catalog(tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    result = extract("catalog", out, "--no-migrations")
    assert result.returncode == 0, result.stdout + result.stderr
    env = service_env("catalog", tmp_path)

    path = [tmp_path, contracts_only_path(tmp_path)]
    generated = named_apart(shape("catalog.config.settings", path, env), "catalog")
    reference = named_apart(
        shape("extracted.catalog.config.settings", [ROOT], base_env()), "extracted.catalog"
    )
    for key in reference:
        assert generated[key] == reference[key], key
    assert "strangler.ownership.router.ControlDatabaseRouter" in generated["DATABASE_ROUTERS"]
    assert "strangler.observability.middleware.TraceContextMiddleware" in generated["MIDDLEWARE"]
    assert {"strangler.ownership", "strangler.sync", "strangler.cutover"} <= set(
        generated["INSTALLED_APPS"]
    )
    assert not [k for k in generated["keys"] if k.endswith("_WRITER")]


def test_generated_settings_use_the_kits_transport_helper(tmp_path: Path) -> None:
    out = tmp_path / "customers"
    assert extract("customers", out, "--no-migrations").returncode == 0
    settings = (out / "config" / "settings.py").read_text()

    assert "STRANGLER_TRANSPORT = transport_from_env()" in settings
    assert "STRANGLER_EXCHANGE" not in settings.replace(
        "# STRANGLER_EXCHANGE / STRANGLER_BROKER_FOLDER", ""
    )
