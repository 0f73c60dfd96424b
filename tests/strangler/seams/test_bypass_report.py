"""`seams --bypass` on a fixture project with one planted write of every kind that skips the
outbox: each is reported with its file and line; recording services and inbox handlers are not."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from strangler.seams.bypass import BYPASS_KINDS
from tests.processes import ROOT, base_env

FIXTURE = ROOT / "tests" / "fixtures" / "bypass_project"
PLANTED = re.compile(r"# bypass: (\w+) ([\w.?]+)")


def run_seams(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command in its own process: Django settings are per process."""
    argv = [sys.executable, "-m", "django", "seams", "--bypass", *args]
    argv.append("--settings=tests.fixtures.bypass_project.settings")
    return subprocess.run(
        argv, cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=60
    )


def bypass_json(*args: str) -> dict:
    result = run_seams("--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def planted() -> set[tuple[str, int, str, str]]:
    """(file, line, kind, model) for every `# bypass:` comment in the fixture."""
    found = set()
    for path in sorted(FIXTURE.rglob("*.py")):
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            match = PLANTED.search(text)
            if match:
                kind, model = match.groups()
                found.add((path.relative_to(FIXTURE).as_posix(), number, kind, model))
    return found


def reported(report: dict) -> set[tuple[str, int, str, str]]:
    return {(b["file"], b["line"], b["kind"], b["model"]) for b in report["bypasses"]}


def test_fixture_plants_every_kind_of_bypass() -> None:
    assert {entry[2] for entry in planted()} == set(BYPASS_KINDS)
    assert len(planted()) == 21


def test_reports_exactly_the_planted_bypasses_with_file_and_line() -> None:
    assert reported(bypass_json()) == planted()


def test_recording_services_inbox_handlers_and_migrations_stay_silent() -> None:
    report = bypass_json()
    files = {b["file"] for b in report["bypasses"]}

    assert "store/services.py" not in files
    assert "store/handlers.py" not in files
    assert not any("migrations" in file for file in files)
    assert report["skipped"] == ["tests.fixtures.bypass_project.store.handlers"]


def test_lookalikes_are_not_reported() -> None:
    quiet = {
        (path.relative_to(FIXTURE).as_posix(), number)
        for path in FIXTURE.rglob("*.py")
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if "not a bypass" in text or "not a write" in text
    }

    assert len(quiet) >= 5
    assert not quiet & {(b["file"], b["line"]) for b in bypass_json()["bypasses"]}


def line_of(file: str, text: str) -> tuple[str, int]:
    """(file, line) of the first fixture line that contains `text`."""
    lines = (FIXTURE / file).read_text().splitlines()
    return file, next(n for n, line in enumerate(lines, start=1) if text in line)


def test_each_bypass_says_what_writes() -> None:
    details = {(b["file"], b["line"]): b["detail"] for b in bypass_json()["bypasses"]}

    assert details[line_of("sales/views.py", "update(price=0)")] == (
        "Product.objects.filter(active=False).update()"
    )
    assert details[line_of("sales/admin.py", "update(active=False)")] == (
        "queryset.update() in admin action mark_inactive"
    )
    assert details[line_of("sales/admin.py", "@admin.register(Product)")] == (
        "ProductAdmin keeps Django's default action delete_selected"
    )
    assert details[line_of("sales/services.py", "product.save(")] == (
        "product.save() outside store's services"
    )
    assert details[line_of("sales/views.py", "UPDATE store_product SET active")] == (
        "cursor.execute: writes store_product"
    )
    assert details[line_of("sales/views.py", "objects.raw(")] == "raw: writes store_product"


def test_models_named_in_strangler_sync_are_tracked_beyond_the_analysed_apps() -> None:
    report = bypass_json("--apps", "sales")

    assert report["tracked_models"] == ["sales.Order", "store.Product"]
    expected = {
        entry
        for entry in planted()
        if entry[0].startswith("sales/") and entry[3] in {"store.Product", "?"}
    }
    assert reported(report) == expected


def test_table_lists_every_write_with_its_location() -> None:
    result = run_seams()

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Writes that bypass the outbox (21)")
    assert "sales/views.py:{}".format(line_of("sales/views.py", "update(price=0)")[1]) in (
        result.stdout
    )
    assert "Inbox handlers left out: tests.fixtures.bypass_project.store.handlers." in (
        result.stdout
    )


def test_fail_on_bypass_prints_the_report_and_exits_non_zero() -> None:
    result = run_seams("--fail-on-bypass")

    assert result.returncode == 1
    assert "sales/views.py" in result.stdout
    assert "21 write(s) bypass the outbox" in result.stderr


def test_diagram_formats_are_refused_for_the_bypass_report() -> None:
    result = run_seams("--format", "mermaid")

    assert result.returncode != 0
    assert "--bypass prints a table or JSON" in result.stderr
