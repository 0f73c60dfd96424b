"""Which installed apps are the project's own: read from Django's app registry, on any layout."""

from __future__ import annotations

import sysconfig
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# Packages never analysed by default: Django's own apps and the kit's.
FRAMEWORK_PACKAGES = ("django", "strangler")
# A directory of installed distributions: code found there is a dependency, not the project.
INSTALL_DIRECTORY_NAMES = frozenset({"site-packages", "dist-packages"})


def installed_roots() -> tuple[Path, ...]:
    """Where pip installs packages for this interpreter (purelib and platlib)."""
    paths = sysconfig.get_paths()
    return tuple({Path(paths[key]).resolve() for key in ("purelib", "platlib") if key in paths})


def is_installed_code(path: Path, roots: Sequence[Path] = ()) -> bool:
    """True when `path` lies in a site-packages (or dist-packages) directory."""
    resolved = path.resolve()
    if INSTALL_DIRECTORY_NAMES & set(resolved.parts):
        return True
    return any(resolved.is_relative_to(root) for root in roots or installed_roots())


def in_package(name: str, packages: Iterable[str]) -> bool:
    """True when the dotted `name` is one of `packages` or lies inside one."""
    return any(name == package or name.startswith(package + ".") for package in packages)


def own_app_labels(app_configs: Iterable[Any], root: Path, settings_module: str) -> list[str]:
    """The project's own apps, in INSTALLED_APPS order.

    An app is the project's own when its code lies under the project root (BASE_DIR) outside any
    site-packages directory, or when its package is under the settings module's top-level
    package; Django's and the kit's apps never are. This finds the apps of a `startproject`
    layout (top-level packages next to manage.py) and of a single-package layout alike.
    """
    top = settings_module.split(".")[0]
    roots = installed_roots()
    labels = []
    for config in app_configs:
        if in_package(config.name, FRAMEWORK_PACKAGES):
            continue
        path = Path(config.path)
        under_root = path.resolve().is_relative_to(root.resolve())
        if (under_root and not is_installed_code(path, roots)) or in_package(config.name, [top]):
            labels.append(config.label)
    return labels


def included_app_labels(app_configs: Iterable[Any], names: Sequence[str]) -> list[str]:
    """Installed apps named by label or by package (a package brings the apps nested in it)."""
    return [
        config.label
        for config in app_configs
        if config.label in names or in_package(config.name, names)
    ]


def unknown_names(app_configs: Iterable[Any], names: Sequence[str]) -> list[str]:
    """The names (labels or packages) that match no installed app."""
    configs = list(app_configs)
    return [name for name in names if not included_app_labels(configs, [name])]


def display_path(file: str | Path, root: Path) -> str:
    """`file` relative to the project root, or to the site-packages directory holding it."""
    path = Path(file).resolve()
    parts = path.parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in INSTALL_DIRECTORY_NAMES:
            return Path(*parts[index + 1 :]).as_posix()
    if path.is_relative_to(root.resolve()):
        return path.relative_to(root.resolve()).as_posix()
    return str(file)
