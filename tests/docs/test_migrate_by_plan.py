"""docs/howto/migrate-by-plan.md works as written, on the real processes.

The guide's plan is the shop's (deploy/autopilot.yaml); its command blocks run in order, with
the environment of a stack of both sides, the gateway and clients reading through it
(PostgreSQL and RabbitMQ). Markers above the blocks (tests/markdown_blocks.py): `plan` is the
plan file, `environment` the variables the reader exports, `run` must exit 0, `background` is
left running, `until-observe` / `until-completed` are run again until the run is there. The
liberties: the gateway's port, and the plan's hold times and request counts shrunk to seconds
and a handful (the phases, their order and their gates are the guide's).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cutover_stack import CutoverStack, cutover_stack
from tests.e2e.test_autopilot import Autopilot, reading, seed_legacy_rows
from tests.markdown_blocks import Block, fenced_blocks
from tests.processes import PYTHON, ROOT, ProcessGroup, wait_until

GUIDE = ROOT / "docs" / "howto" / "migrate-by-plan.md"
MARKERS = {"plan", "environment", "run", "background", "until-observe", "until-completed"}
UNTIL = {"until-observe": " at observe", "until-completed": " completed at "}


def test_every_block_of_the_guide_is_executed_or_checked() -> None:
    for block in fenced_blocks(GUIDE):
        assert block.marker in MARKERS, f"line {block.line}: marker {block.marker!r}"


def test_the_guides_plan_is_the_shops() -> None:
    (block,) = [b for b in fenced_blocks(GUIDE) if b.marker == "plan"]
    shop = yaml.safe_load((ROOT / "deploy" / "autopilot.yaml").read_text())
    assert yaml.safe_load(block.text) == shop


def quick(plan: dict[str, Any]) -> dict[str, Any]:
    """The guide's plan with seconds for minutes and a handful of requests for hundreds."""
    catalog = dict(plan["catalog"])
    catalog["canary"] = {**catalog["canary"], "hold": 1, "min_requests": 1}
    phases = []
    for phase in catalog["phases"]:
        phase = dict(phase)
        if phase["phase"] == "shadow":
            phase.update(min_requests=10, min_match_rate=0.9)
        phases.append(phase)
    catalog["phases"] = phases
    return {"catalog": catalog}


def command(block: Block, line: str) -> list[str]:
    argv = shlex.split(line)
    assert argv[:2] == ["python", "manage.py"], f"line {block.line}: {line}"
    return [PYTHON, str(ROOT / "manage.py"), *argv[2:]]


@pytest.fixture
def stack(processes: ProcessGroup, postgres_url: str, rabbitmq_url: str, tmp_path: Path) -> Any:
    with cutover_stack(
        processes, postgres_url=postgres_url, rabbitmq_url=rabbitmq_url, tmp_path=tmp_path
    ) as stack:
        yield stack


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.rabbitmq
@pytest.mark.timeout(300)
def test_the_guide_migrates_the_catalog_by_plan(stack: CutoverStack, tmp_path: Path) -> None:
    seed_legacy_rows(stack, 30)
    plan = quick(yaml.safe_load((ROOT / "deploy" / "autopilot.yaml").read_text()))
    autopilot = Autopilot(stack, tmp_path, plan)
    outputs: list[str] = []

    def execute(block: Block, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command(block, line),
            cwd=ROOT,
            env=autopilot.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    with reading(autopilot):
        for block in fenced_blocks(GUIDE):
            lines = [line for line in block.text.splitlines() if line.strip()]
            if block.marker == "environment":
                for line in lines:
                    name, _, _ = line.removeprefix("export ").partition("=")
                    assert name in autopilot.env, line  # the test sets it to its gateway
            elif block.marker == "run":
                for line in lines:
                    result = execute(block, line)
                    assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
                    outputs.append(result.stdout)
            elif block.marker == "background":
                (line,) = lines
                stack.processes.start("guide-autopilot", command(block, line), autopilot.env)
            elif block.marker in UNTIL:
                (line,) = lines
                wanted = UNTIL[block.marker]

                def there(line: str = line, wanted: str = wanted, block: Block = block) -> str:
                    result = execute(block, line)
                    assert result.returncode == 0, result.stderr
                    assert " rolled_back " not in result.stdout, result.stdout
                    return result.stdout if wanted in result.stdout else ""

                try:
                    outputs.append(wait_until(there, timeout=150, interval=0.5, what=wanted))  # type: ignore[arg-type]
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\n{stack.processes.logs()[-8000:]}") from exc
    text = "\n".join(outputs)
    assert "would start a run of catalog: fill -> verify -> shadow -> canary-1" in text
    assert " paused at " in text  # status while paused
    assert stack.writer() == "catalog-service"
    status = autopilot.run_row()
    assert status is not None and status["state"] == "completed", status
    decisions = autopilot.decisions(status["id"])
    assert [d["action"] for d in decisions].count("skip_gate") == 1
    assert "watched the service for a week" in text
    # Drift was still read after the skipped hold.
    observe = [e for e in autopilot.evaluations(status["id"]) if e["phase"] == "observe"][-1]
    assert {g["gate"] for g in observe["gates"]} >= {"consumer_lag", "dead_letters", "drift"}
    stack.wait_stores_equal()
