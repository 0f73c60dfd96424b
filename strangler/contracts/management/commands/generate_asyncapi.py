"""manage.py generate_asyncapi: write the AsyncAPI document and the event table of the project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.contracts import services
from strangler.contracts.conf import contracts_settings
from strangler.contracts.reference_docs import MissingTableMarkers
from strangler.contracts.registry import ContractError


class Command(BaseCommand):
    help = (
        "Generate the AsyncAPI 3.0 document of the event channels (asyncapi.yaml) and the event "
        "table in events.md from the project's contract packages (STRANGLER_CONTRACTS), in "
        "STRANGLER_CONTRACTS['DOCS_DIR'] (default BASE_DIR/docs/events) or --docs-dir. An "
        "events.md without table markers is an error; a missing one is created. With --check, "
        "write nothing and exit non-zero when either is not current."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="only check that the committed documents are current (for CI)",
        )
        parser.add_argument(
            "--docs-dir",
            type=Path,
            default=None,
            help="folder of asyncapi.yaml and events.md (default: STRANGLER_CONTRACTS['DOCS_DIR'])",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        docs_dir = options["docs_dir"] or contracts_settings().docs_dir
        try:
            if options["check"]:
                stale = services.stale_documents(docs_dir=docs_dir)
                if stale:
                    names = ", ".join(str(p) for p in stale)
                    raise CommandError(
                        f"not current: {names}; run `python manage.py generate_asyncapi`"
                    )
                self.stdout.write(self.style.SUCCESS("generated documents are current"))
                return
            changed = services.write_documents(docs_dir=docs_dir)
        except (ContractError, MissingTableMarkers, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for path in changed:
            self.stdout.write(f"wrote {path}")
        if not changed:
            self.stdout.write("already current")
