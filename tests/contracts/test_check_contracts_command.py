"""`manage.py check_contracts`: passes on the repository, fails on an incompatible edit."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from strangler.contracts.compat import ReleasedRecord
from tests.contracts.conftest import RELEASED_FILE

# The upcasters that go with a copy of the shop's schema folder (v2 of some types reads v1).
SHOP_UPCASTERS = ("--upcasters", "shared_contracts")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("check_contracts", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def released_copy(schema_copy: Path, tmp_path: Path) -> Path:
    """A released.json for the copied schemas: the repository's, or a fresh release of the copy."""
    record = tmp_path / "released.json"
    if RELEASED_FILE.exists():
        shutil.copy(RELEASED_FILE, record)
    run("--schemas", str(schema_copy), *SHOP_UPCASTERS, "--released", str(record), "--release")
    return record


def test_the_repository_contracts_pass() -> None:
    output = run()

    assert "contracts OK" in output
    assert "0 error(s)" in output


def test_every_repository_schema_is_released() -> None:
    record = ReleasedRecord.load(RELEASED_FILE)

    run("--fail-on-unreleased")
    assert record.items(), "shared_contracts/released.json records the released schemas"


def test_an_incompatible_edit_to_a_released_schema_fails_check_contracts(
    schema_copy: Path, released_copy: Path
) -> None:
    path = schema_copy / "catalog.product.upserted" / "v1.json"
    schema = json.loads(path.read_text())
    schema["required"].remove("price")  # readers relied on price being there
    path.write_text(json.dumps(schema, indent=2))

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 contract error"):
        call_command(
            "check_contracts", "--schemas", str(schema_copy), *SHOP_UPCASTERS,
            "--released", str(released_copy), stdout=out,
        )  # fmt: skip

    output = out.getvalue()
    assert "ERROR [breaking-change] catalog.product.upserted v1" in output
    assert "/required: no longer requires ['price']" in output


def test_release_is_refused_and_writes_nothing_while_there_are_errors(
    schema_copy: Path, released_copy: Path
) -> None:
    before = released_copy.read_text()
    shutil.rmtree(schema_copy / "orders.order.cancelled")

    with pytest.raises(CommandError, match="nothing was released"):
        run(
            "--schemas",
            str(schema_copy),
            *SHOP_UPCASTERS,
            "--released",
            str(released_copy),
            "--release",
        )

    assert released_copy.read_text() == before


def test_release_records_new_versions_and_json_output_reports_them(
    schema_copy: Path, tmp_path: Path
) -> None:
    record = tmp_path / "fresh.json"

    first = json.loads(
        run(
            "--schemas",
            str(schema_copy),
            *SHOP_UPCASTERS,
            "--released",
            str(record),
            "--release",
            "--json",
        )
    )
    again = json.loads(
        run("--schemas", str(schema_copy), *SHOP_UPCASTERS, "--released", str(record), "--json")
    )

    assert first["ok"] and len(first["released"]) == first["checked_versions"] > 0
    assert {f["code"] for f in first["findings"]} == {"unreleased"}
    assert again == {
        "ok": True,
        "checked_versions": first["checked_versions"],
        "packages": [str(schema_copy)],
        "findings": [],
        "released": [],
    }


def test_fail_on_unreleased_turns_new_versions_into_errors(
    schema_copy: Path, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="contract error"):
        run("--schemas", str(schema_copy), *SHOP_UPCASTERS,
            "--released", str(tmp_path / "none.json"), "--fail-on-unreleased")  # fmt: skip


def test_a_missing_schema_folder_is_a_clear_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is not a folder"):
        run("--schemas", str(tmp_path / "nowhere"))


def test_a_folder_checked_without_its_upcasters_misses_them(
    schema_copy: Path, released_copy: Path
) -> None:
    out = io.StringIO()
    with pytest.raises(CommandError, match="contract error"):
        call_command(
            "check_contracts", "--schemas", str(schema_copy), "--released", str(released_copy),
            stdout=out,
        )  # fmt: skip

    assert "ERROR [missing-upcaster] catalog.product.upserted v2" in out.getvalue()
