"""docs/howto/extract-another-context.md works as written.

Its Python snippets are valid and say what the monolith's settings hold; its command blocks run,
in order, in a copy of this repository from before the extraction (no extracted/inventory/), on
SQLite files and the embedded broker under the copy's var/. Markers above the blocks
(tests/markdown_blocks.py): `run` must exit 0, `retry` is run again until it exits 0 (deadline),
`background` is a process the reader leaves running, stopped when the test ends. The one liberty:
the ports 8001 and 8003 become free ones.
"""

from __future__ import annotations

import ast
import copy
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.markdown_blocks import Block, fenced_blocks
from tests.processes import ROOT, ProcessGroup, free_port, wait_until

GUIDE = ROOT / "docs" / "howto" / "extract-another-context.md"
COMMAND_MARKERS = {"run", "retry", "background"}
COMMAND_TIMEOUT = 300.0
RETRY_TIMEOUT = 120.0
# The repository as a user has it before `extract_context inventory`.
NOT_COPIED = {".git", ".venv", "var", "build", "strangler_kit.egg-info", "__pycache__", "bench"}
EXTRACTED = ("extracted/inventory", "tests/extracted/inventory")
# Variables that would point the copy at this run's databases or broker.
CLEARED = (
    "DATABASE_URL",
    "CATALOG_DATABASE_URL",
    "INVENTORY_DATABASE_URL",
    "STRANGLER_CONTROL_DATABASE_URL",
    "BROKER_URL",
    "STRANGLER_VAR_DIR",
    "STRANGLER_EXCHANGE",
    "STRANGLER_BROKER_FOLDER",
    "STRANGLER_INTERNAL_TOKEN",
    "DJANGO_SETTINGS_MODULE",
    "INVENTORY_SERVICE_URL",
    "CATALOG_SERVICE_URL",
    "MONOLITH_URL",
)


def blocks(language: str) -> list[Block]:
    return [b for b in fenced_blocks(GUIDE) if b.language == language]


def test_every_block_of_the_guide_is_executed_or_checked() -> None:
    for block in fenced_blocks(GUIDE):
        assert block.language in {"sh", "python"}, f"line {block.line}: ```{block.language}"
        if block.language == "sh":
            assert block.marker in COMMAND_MARKERS, f"line {block.line}: marker {block.marker!r}"
        else:
            assert block.marker, f"line {block.line}: a Python snippet nothing checks"


def test_python_snippets_are_valid_python() -> None:
    for block in blocks("python"):
        ast.parse(block.text, filename=f"{GUIDE.name}:{block.line}")


def test_the_settings_snippet_is_what_the_monolith_has() -> None:
    (block,) = [b for b in blocks("python") if b.marker == "monolith settings"]
    ownership = copy.deepcopy(settings.STRANGLER_OWNERSHIP)
    sync = copy.deepcopy(settings.STRANGLER_SYNC)
    ownership["CONTEXTS"].pop("inventory")
    sync["CONTEXTS"].pop("inventory")
    namespace: dict[str, Any] = {"STRANGLER_OWNERSHIP": ownership, "STRANGLER_SYNC": sync}

    exec(compile(block.text, GUIDE.name, "exec"), namespace)  # the reader's edit, as written

    assert namespace["STRANGLER_OWNERSHIP"] == settings.STRANGLER_OWNERSHIP
    assert namespace["STRANGLER_SYNC"] == settings.STRANGLER_SYNC


def project_before_extraction(folder: Path) -> Path:
    """A copy of the repository without the inventory service and its tests."""
    copy_root = folder / "shop"
    shutil.copytree(
        ROOT,
        copy_root,
        ignore=shutil.ignore_patterns(*NOT_COPIED, "*.sqlite3", ".*-extracting-*"),
        symlinks=True,
    )
    for relative in EXTRACTED:
        shutil.rmtree(copy_root / relative)
    return copy_root


def reader_env() -> dict[str, str]:
    """A shell like the reader's: this interpreter's `python` first, nothing of this run."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    for name in CLEARED:
        env.pop(name, None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def with_free_ports(script: str, ports: dict[str, str]) -> str:
    for port, free in ports.items():
        script = script.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free}")
    return script


def run_block(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


@pytest.mark.e2e
def test_the_guide_runs_as_written(tmp_path: Path, processes: ProcessGroup) -> None:
    shop = project_before_extraction(tmp_path)
    env = reader_env()
    ports = {"8001": str(free_port()), "8003": str(free_port())}
    exported = ""  # `export` lines of earlier blocks carry over, as in the reader's shell
    for index, block in enumerate(blocks("sh")):
        script = with_free_ports(block.text, ports)
        where = f"{GUIDE.name}:{block.line}"
        if block.marker == "background":
            # In the copy; `env` so that a leading VAR=value works under exec (the pid is the
            # command's own, stopped by the process group).
            command = f"cd {shlex.quote(str(shop))} && exec env {script}"
            processes.start(f"block-{index}", ["bash", "-c", command], {**env})
            continue
        body = exported + script
        if block.marker == "retry":

            def succeeds(body: str = body) -> bool:
                done = run_block(body, shop, env)
                if done.returncode != 0:
                    raise AssertionError(done.stdout[-2000:] + done.stderr[-2000:])
                return True

            try:
                wait_until(succeeds, timeout=RETRY_TIMEOUT, interval=1.0, what=where)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{processes.logs()}") from None
            continue
        done = run_block(body, shop, env)
        assert done.returncode == 0, (
            f"{where} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{processes.logs()}"
        )
        exported += "".join(
            f"{line}\n" for line in script.splitlines() if line.startswith("export ")
        )

    assert (shop / "extracted" / "inventory" / "manage.py").is_file()
    assert (shop / "tests" / "extracted" / "inventory" / "test_handlers.py").is_file()
