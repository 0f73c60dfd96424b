"""The generated reference pages match the code: every command, option and setting is documented."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT

GENERATOR = ROOT / "docs" / "reference" / "generate_reference.py"


def test_command_and_settings_reference_is_current() -> None:
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{result.stdout}{result.stderr}\nregenerate with: python {GENERATOR.relative_to(ROOT)}"
    )


def test_reference_names_every_command_and_setting() -> None:
    commands = (ROOT / "docs" / "reference" / "commands.md").read_text()
    for name in (
        "outbox_relay",
        "consume_events",
        "backfill",
        "reconcile",
        "cutover",
        "migration_status",
        "rungateway",
        "shadow_report",
        "seams",
    ):
        assert f"\n## {name}\n" in commands, name
    settings = (ROOT / "docs" / "reference" / "settings.md").read_text()
    for path in sorted((ROOT / "strangler").glob("*/conf.py")):
        setting = f"STRANGLER_{path.parent.name.upper()}"
        assert f"\n## {setting}\n" in settings, setting
