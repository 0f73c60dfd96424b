"""manage.py check_contracts: fail when a released event schema changed in a reader-breaking way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.contracts import services
from strangler.contracts.project import ContractPackage, project_contracts
from strangler.contracts.reference_docs import MissingTableMarkers
from strangler.contracts.registry import ContractError, SchemaRegistry
from strangler.contracts.upcasters import UpcasterRegistry


class Command(BaseCommand):
    help = (
        "Check the event schemas of each contract package (STRANGLER_CONTRACTS['PACKAGES']) "
        "against its record of released versions (released.json in the package): a released "
        "version must still exist and accept exactly the payloads it accepted (only annotations "
        "and, where other properties are allowed, optional properties may change); every version "
        "after v1 needs an upcaster; EVENTS and the schema folders must agree; the generated "
        "AsyncAPI document and event table must be current. Exits non-zero on any error. With "
        "--release, records every current schema as released once the check passes."
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
            help="check this folder of <type>/v<N>.json files instead of the configured "
            "packages (with --released)",
        )
        parser.add_argument(
            "--released",
            type=Path,
            default=None,
            help="released-versions record for --schemas (default: released.json beside it)",
        )
        parser.add_argument(
            "--upcasters",
            default=None,
            metavar="PACKAGE",
            help="with --schemas: the upcasters of this contract package (its UPCASTERS) go with "
            "the folder, so that its versions after v1 are checked against them",
        )
        parser.add_argument("--json", action="store_true", help="print the findings as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        schemas: Path | None = options["schemas"]
        try:
            if schemas is not None:
                if not schemas.is_dir():
                    raise CommandError(
                        f"--schemas {schemas} is not a folder of <type>/v<N>.json files"
                    )
                released_file = options["released"] or schemas.parent / "released.json"
                upcasters = UpcasterRegistry()
                if options["upcasters"]:
                    package = ContractPackage.load(options["upcasters"])
                    upcasters = UpcasterRegistry.merged(package.upcasters)
                checks = [services.folder_check(SchemaRegistry(schemas, upcasters), released_file)]
                stale: list[Path] = []
            else:
                if options["released"] is not None or options["upcasters"] is not None:
                    raise CommandError("--released and --upcasters go with --schemas")
                contracts = project_contracts()
                if not contracts.packages:
                    raise CommandError(
                        "no contract package is configured; set STRANGLER_CONTRACTS = "
                        "{'PACKAGES': ['<your contracts package>']}"
                    )
                checks = services.contracts_checks(contracts)
                stale = services.stale_documents(contracts)
        except (ContractError, MissingTableMarkers) as exc:
            raise CommandError(str(exc)) from exc

        findings: list[dict[str, Any]] = []
        errors: list[str] = []
        for check in checks:
            findings += [dict(f.as_dict(), package=check.package) for f in check.report.findings]
            errors += [str(f) for f in check.report.errors]
            if options["fail_on_unreleased"] and not options["release"]:
                errors += [
                    f"ERROR [unreleased] {t} v{v}: not yet released"
                    for t, v in check.report.unreleased()
                ]
        for path in stale:
            message = (
                f"{path} is not current; run `python manage.py generate_asyncapi` and commit it"
            )
            errors.append(f"ERROR [stale-docs] {message}")
            findings.append({"severity": "error", "code": "stale-docs", "message": message})

        released_now: list[tuple[str, int]] = []
        if options["release"] and not errors:
            for check in checks:
                released_now += services.contracts_release(check)

        checked = sum(check.report.checked_versions for check in checks)
        unreleased = sum(len(check.report.unreleased()) for check in checks)
        if options["json"]:
            summary = {
                "ok": not errors,
                "checked_versions": checked,
                "packages": [check.package for check in checks],
                "findings": findings,
                "released": [{"event_type": t, "version": v} for t, v in released_now],
            }
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            reported = 0
            for check in checks:
                for finding in check.report.findings:
                    style = self.style.ERROR if finding.severity == "error" else self.style.WARNING
                    self.stdout.write(style(f"{check.package}: {finding}"))
                reported += len(check.report.errors)
            for line in errors[reported:]:
                self.stdout.write(self.style.ERROR(line))
            for event_type, version in released_now:
                self.stdout.write(self.style.SUCCESS(f"released {event_type} v{version}"))
            pending = (
                f"{len(released_now)} released now"
                if released_now
                else f"{unreleased} not yet released"
            )
            self.stdout.write(
                f"checked {checked} schema version(s) in {len(checks)} package(s): "
                f"{len(errors)} error(s), {pending}"
            )
        if errors:
            hint = " (nothing was released)" if options["release"] else ""
            raise CommandError(f"{len(errors)} contract error(s){hint}; see above")
        if not options["json"]:
            self.stdout.write(self.style.SUCCESS("contracts OK"))
