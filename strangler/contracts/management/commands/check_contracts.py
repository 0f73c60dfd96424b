"""manage.py check_contracts: fail when a released event schema changed in a reader-breaking way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shared_contracts import compat
from shared_contracts.registry import SCHEMA_DIR, ContractError, SchemaRegistry, default_registry
from shared_contracts.upcasters import UPCASTERS
from strangler.contracts import services


class Command(BaseCommand):
    help = (
        "Check the event schemas of the published language against the record of released "
        "versions (shared_contracts/released.json): a released version must still exist and "
        "accept exactly the payloads it accepted (only annotations and, where other properties "
        "are allowed, optional properties may change); every version after v1 needs an upcaster; "
        "the catalog and the schema folders must agree; the generated AsyncAPI document and event "
        "table must be current. Exits non-zero on any error. With --release, records every "
        "current schema as released once the check passes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--release",
            action="store_true",
            help="after a passing check, record every current schema version as released",
        )
        parser.add_argument(
            "--fail-on-unreleased",
            action="store_true",
            help="treat schema versions not yet in the released record as errors (for CI "
            "on a release branch)",
        )
        parser.add_argument(
            "--schemas",
            type=Path,
            default=None,
            help=f"schema folder to check (default: {SCHEMA_DIR})",
        )
        parser.add_argument(
            "--released",
            type=Path,
            default=None,
            help=f"released-versions record (default: {compat.RELEASED_FILE})",
        )
        parser.add_argument("--json", action="store_true", help="print the findings as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        schemas: Path | None = options["schemas"]
        if schemas is not None and not schemas.is_dir():
            raise CommandError(f"--schemas {schemas} is not a folder of <type>/v<N>.json files")
        registry = (
            SchemaRegistry(schemas, UPCASTERS)
            if schemas is not None and schemas.resolve() != SCHEMA_DIR
            else default_registry()
        )
        try:
            check = services.contracts_check(registry=registry, released_file=options["released"])
        except ContractError as exc:
            raise CommandError(str(exc)) from exc
        findings = [finding.as_dict() for finding in check.report.findings]
        errors = [str(f) for f in check.report.errors]
        unreleased = check.report.unreleased()
        if options["fail_on_unreleased"] and not options["release"]:
            errors += [f"ERROR [unreleased] {t} v{v}: not yet released" for t, v in unreleased]
        if registry is default_registry():
            for path in services.stale_documents(registry):
                message = (
                    f"{path} is not current; run `python manage.py generate_asyncapi` and commit it"
                )
                errors.append(f"ERROR [stale-docs] {message}")
                findings.append({"severity": "error", "code": "stale-docs", "message": message})

        released_now: list[tuple[str, int]] = []
        if options["release"] and not errors:
            released_now = services.contracts_release(check)

        if options["json"]:
            summary = {
                "ok": not errors,
                "checked_versions": check.report.checked_versions,
                "findings": findings,
                "released": [{"event_type": t, "version": v} for t, v in released_now],
            }
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            for finding in check.report.findings:
                style = self.style.ERROR if finding.severity == "error" else self.style.WARNING
                self.stdout.write(style(str(finding)))
            for line in errors[len(check.report.errors) :]:
                self.stdout.write(self.style.ERROR(line))
            for event_type, version in released_now:
                self.stdout.write(self.style.SUCCESS(f"released {event_type} v{version}"))
            pending = (
                f"{len(released_now)} released now"
                if released_now
                else (f"{len(unreleased)} not yet released")
            )
            self.stdout.write(
                f"checked {check.report.checked_versions} schema version(s): "
                f"{len(errors)} error(s), {pending}"
            )
        if errors:
            hint = " (nothing was released)" if options["release"] else ""
            raise CommandError(f"{len(errors)} contract error(s){hint}; see above")
        if not options["json"]:
            self.stdout.write(self.style.SUCCESS("contracts OK"))
