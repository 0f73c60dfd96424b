"""The strangler-kit wheel is the kit alone: no package of the shop, all of the kit's data."""

from __future__ import annotations

import zipfile
from pathlib import Path

SHOP_PACKAGES = {"monolith", "extracted", "shared_contracts", "tests", "bench", "deploy", "docs"}


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_only_the_strangler_package(kit_wheel: Path) -> None:
    top_level = {name.split("/", 1)[0] for name in wheel_names(kit_wheel)}
    metadata = [name for name in top_level if name.endswith(".dist-info")]
    assert len(metadata) == 1 and metadata[0].startswith("strangler_kit-")
    assert top_level == {"strangler", *metadata}
    assert not top_level & SHOP_PACKAGES


def test_the_wheel_carries_the_kits_package_data(kit_wheel: Path) -> None:
    names = set(wheel_names(kit_wheel))
    assert "strangler/py.typed" in names
    templates = [
        n for n in names if n.startswith("strangler/seams/templates/") and n.endswith(".tmpl")
    ]
    assert "strangler/seams/templates/seams/scaffold/manage.py.tmpl" in templates
    assert len(templates) >= 10
    assert any(n.startswith("strangler/outbox/migrations/0001") for n in names)
    assert any(n.startswith("strangler/inbox/migrations/0001") for n in names)


def test_the_wheel_declares_its_pytest_plugin_and_no_shop_schema(kit_wheel: Path) -> None:
    names = wheel_names(kit_wheel)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(kit_wheel) as archive:
        text = archive.read(entry_points).decode()
    assert "[pytest11]" in text and "strangler.outbox.pytest_plugin" in text
    assert not [n for n in names if "/schemas/" in n and n.endswith("/v1.json")]
