"""`seams` on layouts other than the shop's: a `django-admin startproject` project (apps next to
manage.py) and third-party apps installed in site-packages with apps nested inside apps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import base_env

BIN = Path(sys.executable).parent
FILES = {
    "library/models.py": """
from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=100)
""",
    "loans/models.py": """
from django.db import models


class Loan(models.Model):
    book = models.ForeignKey("library.Book", on_delete=models.CASCADE)
""",
    "loans/services.py": """
from library.models import Book
""",
    # Third-party apps in site-packages: shelf, shelf.apps.catalogue inside it, and
    # shelf.apps.catalogue.reviews inside that.
    "site-packages/shelf/__init__.py": "",
    "site-packages/shelf/models.py": """
from django.db import models


class Shelf(models.Model):
    name = models.CharField(max_length=100)
""",
    "site-packages/shelf/apps/__init__.py": "",
    "site-packages/shelf/apps/catalogue/__init__.py": "",
    "site-packages/shelf/apps/catalogue/models.py": """
from django.db import models


class Item(models.Model):
    shelf = models.ForeignKey("shelf.Shelf", on_delete=models.CASCADE)
""",
    "site-packages/shelf/apps/catalogue/views.py": """
from shelf.apps.catalogue.reviews.models import Review
from shelf.models import Shelf
""",
    "site-packages/shelf/apps/catalogue/reviews/__init__.py": "",
    "site-packages/shelf/apps/catalogue/reviews/models.py": """
from django.db import models


class Review(models.Model):
    item = models.ForeignKey("catalogue.Item", on_delete=models.CASCADE)
""",
    "site-packages/shelf/apps/catalogue/reviews/services.py": """
from shelf.apps.catalogue.models import Item
from shelf.models import Shelf
""",
}
INSTALLED = [
    "strangler.seams",
    "library",
    "loans",
    "shelf",
    "shelf.apps.catalogue",
    "shelf.apps.catalogue.reviews",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A startproject project with two apps of its own and three installed third-party apps."""
    folder = tmp_path_factory.mktemp("layouts") / "mysite"
    folder.mkdir()
    env = environment(folder)
    commands = [
        [str(BIN / "django-admin"), "startproject", "mysite", str(folder)],
        [sys.executable, "manage.py", "startapp", "library"],
        [sys.executable, "manage.py", "startapp", "loans"],
    ]
    for argv in commands:
        result = subprocess.run(
            argv, cwd=folder, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
    for name, text in FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    settings = folder / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + f"\nINSTALLED_APPS += {INSTALLED!r}\n")
    return folder


def environment(folder: Path) -> dict[str, str]:
    env = base_env()
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(folder / "site-packages"), env.get("PYTHONPATH", "")])
    return env


def seams(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "manage.py", "seams", *args]
    return subprocess.run(
        argv, cwd=project, env=environment(project), capture_output=True, text=True, timeout=60
    )


def seams_json(project: Path, *args: str) -> dict:
    result = seams(project, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_startproject_apps_are_found_without_naming_them(project: Path) -> None:
    report = seams_json(project)

    assert report["apps"] == ["library", "loans"]
    edges = {(e["source"], e["target"], e["kind"], e["file"]) for e in report["edges"]}
    assert edges == {
        ("loans", "library", "foreign_key", "loans/models.py"),
        ("loans", "library", "import", "loans/services.py"),
    }


def test_installed_apps_are_analysed_when_included_by_package(project: Path) -> None:
    report = seams_json(project, "--include", "shelf")

    assert report["apps"] == ["library", "loans", "shelf", "catalogue", "reviews"]


def test_a_module_counts_for_its_innermost_app_only(project: Path) -> None:
    report = seams_json(project, "--include", "shelf")
    imports = [e for e in report["edges"] if e["kind"] == "import"]
    locations = [(e["file"], e["line"]) for e in imports]

    assert len(locations) == len(set(locations))
    assert {(e["source"], e["target"], e["file"], e["line"]) for e in imports} == {
        ("loans", "library", "loans/services.py", 1),
        ("catalogue", "reviews", "shelf/apps/catalogue/views.py", 1),
        ("catalogue", "shelf", "shelf/apps/catalogue/views.py", 2),
        ("reviews", "catalogue", "shelf/apps/catalogue/reviews/services.py", 1),
        ("reviews", "shelf", "shelf/apps/catalogue/reviews/services.py", 2),
    }


def test_bypass_report_on_a_project_that_writes_nothing_passes_in_ci(project: Path) -> None:
    result = seams(project, "--bypass", "--fail-on-bypass")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Writes that bypass the outbox (0)")
    assert "tracked models: library.Book, loans.Loan." in result.stdout


def test_unknown_included_name_is_refused(project: Path) -> None:
    result = seams(project, "--include", "oscar")

    assert result.returncode != 0
    assert "Unknown app label(s): oscar" in result.stderr
