"""The kit as a user gets it: its wheel, built once per session from the working tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT

# What the wheel is built from: the kit's sources and its distribution metadata, copied away from
# the tree so that stale build/ or *.egg-info folders of the checkout cannot leak into it.
SOURCES = ("pyproject.toml", "README.md", "strangler")


def build_wheel(out: Path) -> Path:
    """Build strangler-kit's wheel into `out` (pip wheel, no dependencies) and return its path."""
    source = out / "source"
    source.mkdir(parents=True)
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(origin, source / name, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    dist = out / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    (wheel,) = dist.glob("strangler_kit-*.whl")
    return wheel


@pytest.fixture(scope="session")
def kit_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built strangler-kit wheel."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))
