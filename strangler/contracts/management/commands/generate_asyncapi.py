"""manage.py generate_asyncapi: write docs/reference/asyncapi.yaml and the event table."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shared_contracts.reference_docs import MissingTableMarkers
from shared_contracts.registry import ContractError
from strangler.contracts import services


class Command(BaseCommand):
    help = (
        "Generate the AsyncAPI 3.0 document of the event channels (docs/reference/asyncapi.yaml) "
        "and the event table in docs/reference/events.md from shared_contracts' catalog and "
        "schemas. With --check, write nothing and exit non-zero when either is not current."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="only check that the committed documents are current (for CI)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["check"]:
                stale = services.stale_documents()
                if stale:
                    names = ", ".join(str(p) for p in stale)
                    raise CommandError(
                        f"not current: {names}; run `python manage.py generate_asyncapi`"
                    )
                self.stdout.write(self.style.SUCCESS("generated documents are current"))
                return
            changed = services.write_documents()
        except (ContractError, MissingTableMarkers, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for path in changed:
            self.stdout.write(f"wrote {path}")
        if not changed:
            self.stdout.write("already current")
