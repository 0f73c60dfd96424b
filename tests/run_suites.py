"""Run the whole test suite: lint, then one pytest run per Django project (monolith, each service).

Django settings are per process, so the monolith's tests and each extracted service's tests run in
separate pytest processes. This prints one closing line that adds them all up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "test-results"


@dataclass(frozen=True)
class Suite:
    name: str
    paths: list[str]
    settings: str


def discover_suites() -> list[Suite]:
    suites = [Suite("monolith", ["tests", "--ignore=tests/extracted"], "monolith.config.settings")]
    for service_dir in sorted((ROOT / "extracted").iterdir()):
        tests_dir = ROOT / "tests" / "extracted" / service_dir.name
        if (service_dir / "manage.py").exists() and tests_dir.is_dir():
            suites.append(
                Suite(
                    service_dir.name,
                    [str(tests_dir.relative_to(ROOT))],
                    f"extracted.{service_dir.name}.config.settings",
                )
            )
    return suites


def run_lint() -> bool:
    ruff = [sys.executable, "-m", "ruff"]
    checks = [[*ruff, "check", "."], [*ruff, "format", "--check", "."]]
    return all(subprocess.run(cmd, cwd=ROOT).returncode == 0 for cmd in checks)


def count_results(xml_file: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a JUnit XML report; a missing report counts as one failure."""
    if not xml_file.exists():
        return 0, 1, 0
    root = ET.parse(xml_file).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return total - failed - skipped, failed, skipped


def main(argv: list[str]) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lint_ok = run_lint()
    passed = failed = skipped = 0
    for suite in discover_suites():
        xml_file = RESULTS / f"{suite.name}.xml"
        xml_file.unlink(missing_ok=True)
        print(f"\n=== {suite.name} tests ({suite.settings}) ===", flush=True)
        cmd = [sys.executable, "-m", "pytest", *suite.paths, f"--ds={suite.settings}"]
        cmd += [f"--junitxml={xml_file}", *argv]
        code = subprocess.run(cmd, cwd=ROOT, env=os.environ.copy()).returncode
        p, f, s = count_results(xml_file)
        if code not in (0, 5) and f == 0:
            f = 1  # pytest itself failed (collection error, usage error)
        passed, failed, skipped = passed + p, failed + f, skipped + s
    if not lint_ok:
        print("ruff reported problems (see above).")
        failed += 1
    print(f"\ntotal: {passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
