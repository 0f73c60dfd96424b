"""Writing a generated service atomically: staged in a folder beside the target, checked
(`manage.py check`, `makemigrations`, the project's ruff when it has one), then moved into place.

Nothing is half-written: a failure before the move leaves the target as it was, and `--force`
swaps the old folders out only once the new ones passed every check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from strangler.seams.scaffold.plan import GeneratedFile, Plan, ScaffoldError


@dataclass(frozen=True)
class Placement:
    """A staged folder and where it goes."""

    staged: Path
    target: Path


def existing_targets(plan: Plan) -> list[Path]:
    """Files already in the folders the service would replace."""
    found: list[Path] = []
    for folder in _targets(plan):
        if folder.exists():
            found += sorted(
                p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            )
    return found


def _targets(plan: Plan) -> list[Path]:
    if plan.tests_dir.is_relative_to(plan.out):
        return [plan.out]
    return [plan.out, plan.tests_dir]


def write_service(
    files: Sequence[GeneratedFile],
    plan: Plan,
    *,
    lint_config: Path | None,
    make_migrations: bool,
    extra_path: Sequence[Path],
    log: Callable[[str], None],
) -> list[Path]:
    """Stage, check and move the service into place; the final paths of what was written."""
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{plan.name}-extracting-", dir=plan.out.parent))
    try:
        root = staging / "root"
        service = root.joinpath(*plan.package.split("."))
        placements = [Placement(service, plan.out)]
        if not plan.tests_dir.is_relative_to(plan.out):
            placements.append(Placement(staging / "tests", plan.tests_dir))
        for generated in files:
            _stage(generated, placements)
        for depth in range(1, plan.depth):
            # Parent packages of the service (extracted/), so the staged copy imports first.
            (root.joinpath(*plan.package.split(".")[:depth]) / "__init__.py").touch()
        env = _check_env(plan, staging, [root, *extra_path])
        python_files = sorted(staging.rglob("*.py"))
        if lint_config is not None:
            log(f"formatting with ruff ({lint_config.name})")
            ruff_files(python_files, lint_config.parent, lint_config)
        log("checking the service (manage.py check)")
        run_tool([sys.executable, str(service / "manage.py"), "check"], service, env)
        if make_migrations:
            log("making the service's migrations")
            run_tool(
                [sys.executable, str(service / "manage.py"), "makemigrations", plan.app],
                service,
                env,
            )
            migrations = sorted((service / plan.app / "migrations").glob("0*.py"))
            if lint_config is not None and migrations:
                ruff_files(migrations, lint_config.parent, lint_config)
        for cache in list(staging.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
        written = [
            placement.target / path.relative_to(placement.staged)
            for placement in placements
            for path in sorted(placement.staged.rglob("*"))
            if path.is_file()
        ]
        _move_into_place(placements, staging)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage(generated: GeneratedFile, placements: Sequence[Placement]) -> None:
    for placement in placements:
        if generated.path.is_relative_to(placement.target):
            staged = placement.staged / generated.path.relative_to(placement.target)
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_text(generated.content, encoding="utf-8")
            return
    raise ScaffoldError(f"{generated.path} is outside the service's folders.")


def _check_env(plan: Plan, staging: Path, path: Sequence[Path]) -> dict[str, str]:
    """The staged service's environment: in-memory databases, its own var dir, the staged
    package first on the import path."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": f"{plan.package}.config.settings"}
    env.pop("DATABASE_URL", None)
    env[f"{plan.env_prefix}_DATABASE_URL"] = "sqlite://:memory:"
    env["STRANGLER_CONTROL_DATABASE_URL"] = "sqlite://:memory:"
    env["STRANGLER_VAR_DIR"] = str(staging / "var")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    entries = [str(p) for p in path]
    if env.get("PYTHONPATH"):
        entries.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(entries)
    return env


def _move_into_place(placements: Sequence[Placement], staging: Path) -> None:
    """Swap each staged folder in; the old folders (with --force) are restored on failure."""
    replaced: list[tuple[Path, Path]] = []
    moved: list[Placement] = []
    try:
        for index, placement in enumerate(placements):
            placement.target.parent.mkdir(parents=True, exist_ok=True)
            if placement.target.exists():
                aside = staging / f"replaced-{index}"
                os.replace(placement.target, aside)
                replaced.append((aside, placement.target))
            os.replace(placement.staged, placement.target)
            moved.append(placement)
    except OSError as exc:
        for placement in moved:
            os.replace(placement.target, placement.staged)
        for aside, target in replaced:
            os.replace(aside, target)
        raise ScaffoldError(f"could not move the service into place: {exc}") from exc


def run_tool(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a step of the generation (ruff, check, makemigrations); ScaffoldError with its
    output when it fails."""
    result = subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise ScaffoldError(
            f"`{' '.join(argv)}` failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


def ruff_files(paths: Sequence[Path], cwd: Path, config: Path) -> None:
    """The project's ruff: fix what it can (import order), format, then check what is left."""
    ruff = [sys.executable, "-m", "ruff"]
    names = ["--config", str(config), *(str(p) for p in paths)]
    subprocess.run(
        [*ruff, "check", "--fix", "--quiet", *names], cwd=cwd, capture_output=True, timeout=120
    )
    run_tool([*ruff, "format", "--quiet", *names], cwd)
    run_tool([*ruff, "check", *names], cwd)
