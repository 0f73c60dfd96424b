"""A project's contracts: the contract packages its settings name, loaded into one registry.

A contract package is a plain Python package the project owns (the kit never imports it by a
fixed name). It holds, with no import of the kit:

- ``EVENTS``: a list of declarations, one mapping per event type with the keys ``type``,
  ``kind`` ("state-transfer" or "domain"), ``producer``, ``subject`` and ``description``;
- ``UPCASTERS`` (optional): ``{(event_type, from_version): function}``;
- ``schemas/<type>/v<N>.json`` next to its ``__init__.py`` (or a ``SCHEMAS_DIR`` attribute);
- ``released.json`` next to it (or a ``RELEASED_FILE`` attribute): the released versions that
  ``check_contracts`` holds the schemas to.

``STRANGLER_CONTRACTS = {"PACKAGES": ["myproject_contracts"]}`` registers them.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from strangler.contracts.conf import contracts_settings
from strangler.contracts.declarations import EventCatalog, EventSpec, InvalidDeclaration
from strangler.contracts.registry import ContractError, SchemaRegistry
from strangler.contracts.upcasters import Upcaster, UpcasterRegistry


class ContractPackageError(ContractError):
    """A package named in STRANGLER_CONTRACTS['PACKAGES'] cannot be loaded as contracts."""


@dataclass(frozen=True)
class ContractPackage:
    """One contract package: its declarations, schema folder, upcasters and released record."""

    name: str
    specs: tuple[EventSpec, ...]
    schema_dir: Path
    released_file: Path
    upcasters: Mapping[tuple[str, int], Upcaster] = field(default_factory=dict)

    @classmethod
    def load(cls, dotted_path: str) -> ContractPackage:
        """Import a contract package by its dotted path and read its declarations."""
        try:
            module = importlib.import_module(dotted_path)
        except ImportError as exc:
            raise ContractPackageError(
                f"contract package {dotted_path!r} cannot be imported: {exc}; "
                "STRANGLER_CONTRACTS['PACKAGES'] lists importable packages"
            ) from exc
        return cls.from_module(module)

    @classmethod
    def from_module(cls, module: ModuleType) -> ContractPackage:
        name = module.__name__
        events = getattr(module, "EVENTS", None)
        if events is None:
            raise ContractPackageError(
                f"contract package {name!r} has no EVENTS (a list of event declarations)"
            )
        try:
            specs = tuple(EventSpec.from_declaration(entry, name) for entry in events)
        except InvalidDeclaration as exc:
            raise ContractPackageError(str(exc)) from exc
        upcasters = getattr(module, "UPCASTERS", {}) or {}
        if not isinstance(upcasters, Mapping):
            raise ContractPackageError(
                f"{name}.UPCASTERS must be a mapping {{(event_type, from_version): function}}"
            )
        folder = _package_folder(module)
        return cls(
            name=name,
            specs=specs,
            schema_dir=Path(getattr(module, "SCHEMAS_DIR", folder / "schemas")),
            released_file=Path(getattr(module, "RELEASED_FILE", folder / "released.json")),
            upcasters=dict(upcasters),
        )

    def registry(self) -> SchemaRegistry:
        """A registry of this package alone (what its compatibility check works on)."""
        return SchemaRegistry(self.schema_dir, UpcasterRegistry.merged(self.upcasters))

    def event_types(self) -> list[str]:
        return sorted(spec.type for spec in self.specs)


@dataclass(frozen=True)
class ProjectContracts:
    """Every contract package of a project: one catalog and one registry over all of them."""

    packages: tuple[ContractPackage, ...]
    catalog: EventCatalog
    registry: SchemaRegistry

    @classmethod
    def of(cls, packages: tuple[ContractPackage, ...]) -> ProjectContracts:
        try:
            catalog = EventCatalog(spec for package in packages for spec in package.specs)
            upcasters = UpcasterRegistry.merged(*(package.upcasters for package in packages))
        except (InvalidDeclaration, ValueError) as exc:
            raise ContractPackageError(str(exc)) from exc
        registry = SchemaRegistry([package.schema_dir for package in packages], upcasters)
        return cls(packages, catalog, registry)

    def package(self, name: str) -> ContractPackage:
        for package in self.packages:
            if package.name == name:
                return package
        known = ", ".join(p.name for p in self.packages) or "none"
        raise ContractPackageError(f"no contract package {name!r}; configured: {known}")


def load_project_contracts(package_names: tuple[str, ...] | list[str]) -> ProjectContracts:
    """Load the named contract packages into one ProjectContracts."""
    return ProjectContracts.of(tuple(ContractPackage.load(name) for name in package_names))


@functools.cache
def project_contracts() -> ProjectContracts:
    """The contracts of this project (STRANGLER_CONTRACTS['PACKAGES']), loaded once."""
    return load_project_contracts(contracts_settings().packages)


@receiver(setting_changed)
def _forget_contracts(*, setting: str, **kwargs: Any) -> None:
    if setting == "STRANGLER_CONTRACTS":
        project_contracts.cache_clear()


def _package_folder(module: ModuleType) -> Path:
    paths = list(getattr(module, "__path__", []))
    if paths:
        return Path(paths[0])
    if getattr(module, "__file__", None):
        return Path(module.__file__).resolve().parent  # type: ignore[arg-type]
    raise ContractPackageError(f"contract package {module.__name__!r} has no folder on disk")
