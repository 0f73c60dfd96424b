"""Where a generated service goes: its package name, import root and tests folder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


class ScaffoldError(Exception):
    """The service cannot be generated as asked; the message says why and what to do."""


@dataclass
class GeneratedFile:
    """One file of the service, in memory until the writer stages it."""

    path: Path
    content: str


@dataclass
class Plan:
    """Where the service goes and how its modules are named."""

    name: str
    app: str
    out: Path
    package: str
    import_root: Path
    tests_dir: Path
    notes: list[str] = field(default_factory=list)
    vendored: set[str] = field(default_factory=set)  # shared monolith modules copied over

    @property
    def app_package(self) -> str:
        return f"{self.package}.{self.app}"

    @property
    def service_name(self) -> str:
        """STRANGLER_SERVICE_NAME: the writer's name in the control database."""
        return f"{self.name}-service"

    @property
    def env_prefix(self) -> str:
        """Prefix of the service's variables: <PREFIX>_DATABASE_URL, <PREFIX>_INBOX_QUEUE."""
        return self.name.upper()

    @property
    def depth(self) -> int:
        """How many folders the package spans below the import root (extracted.x: 2)."""
        return len(self.package.split("."))


def plan_output(name: str, app: str, out: Path, project_root: Path) -> Plan:
    """Decide the package name and test folder from where the service is written.

    Inside the project's `extracted/` folder the service is a package of the project
    (`extracted.<name>`) and its tests go to `tests/extracted/<name>/`, where the project's
    test runner finds them; anywhere else it is a top-level package with its tests inside.
    """
    out = out.resolve()
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", out.name):
        raise ScaffoldError(
            f"{out.name!r} is not a Python package name; use lower case letters, digits and _."
        )
    root = project_root.resolve()
    try:
        relative = out.relative_to(root)
    except ValueError:
        relative = None
    if relative is not None and relative.parts and relative.parts[0] == "extracted":
        return Plan(name, app, out, ".".join(relative.parts), root, root / "tests" / relative)
    return Plan(name, app, out, out.name, out.parent, out / "tests")
