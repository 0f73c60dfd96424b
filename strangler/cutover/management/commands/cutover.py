"""`manage.py cutover <context> --to service|monolith`: move a context's writes, safely."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.cutover.runs import STEPS, Cutover, CutoverError
from strangler.ownership.conf import OwnershipConfigurationError
from strangler.sync.conf import SyncConfigurationError
from strangler.sync.internal_api import PeerError


class Command(BaseCommand):
    help = (
        "Move the writes of a context to the other side (--to service) or back (--to monolith): "
        f"{' -> '.join(STEPS)}. Writes are frozen (503 + Retry-After) only from freeze to "
        "unfreeze. Each step is printed and recorded in the control database; after a crash, run "
        "the same command again and it resumes where it stopped. A failed check before the flip "
        "aborts: writes unfrozen, the writer unchanged, exit status 1. Run it on the monolith or "
        "on the service; the other side is reached at STRANGLER_SYNC['PEERS'][context] (--peer)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("context", help="The context to move, e.g. catalog.")
        parser.add_argument(
            "--to",
            dest="target",
            help="The new writer: 'service', 'monolith' (or the service's own name).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan and the current figures only."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            help="Seconds the drain may take before the run aborts (default "
            "STRANGLER_CUTOVER['DRAIN_TIMEOUT']).",
        )
        parser.add_argument("--peer", help="Base URL of the other side (overrides PEERS).")
        parser.add_argument(
            "--abort",
            action="store_true",
            help="Abandon the context's unfinished run (possible before its flip): unfreeze.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the result as JSON at the end."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        context = options["context"]
        if options["timeout"] is not None and options["timeout"] <= 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        if not options["abort"] and not options["target"]:
            raise CommandError("say where the writes go: --to service or --to monolith.")
        echo = self._echo
        try:
            cutover = Cutover(
                context,
                options["target"] or "monolith",
                peer_url=options["peer"],
                drain_timeout=options["timeout"],
                echo=echo,
            )
        except (OwnershipConfigurationError, SyncConfigurationError, CutoverError) as exc:
            raise CommandError(str(exc)) from exc
        try:
            if options["abort"]:
                run = cutover.abort_unfinished()
                echo(f"aborted run {run.id}." if run else f"no unfinished cutover of {context}.")
                return
            if options["dry_run"]:
                for line in cutover.plan():
                    echo(line)
                echo("dry run: nothing was changed.")
                return
            result = cutover.execute()
        except (CutoverError, PeerError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            cutover.close()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2, default=str))

    def _echo(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
