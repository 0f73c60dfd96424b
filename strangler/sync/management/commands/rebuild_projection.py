"""manage.py rebuild_projection: empty a projection on this (reading) side and have it replayed."""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.sync.arguments import aggregates_named, confirm
from strangler.sync.projections import reset_projection


class Command(BaseCommand):
    help = (
        "Rebuild a projection from zero on the consuming side: delete its rows, its per-aggregate "
        "versions (tombstones included) and this subscriber's inbox records of its events, in "
        "one transaction, then print the replay_events command to run on the writer. Asks for "
        "confirmation (--yes to skip). NAME is an aggregate of STRANGLER_SYNC (catalog.product) "
        "or a context (catalog: all its aggregates)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="catalog.product, or catalog for every aggregate")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if not apps.is_installed("strangler.inbox"):
            raise CommandError(
                "this side has no inbox (strangler.inbox is not installed): projections are "
                "rebuilt on the consuming side."
            )
        from strangler.inbox.conf import inbox_settings

        inbox = inbox_settings()
        specs = aggregates_named(options["name"])
        labels = ", ".join(spec.label for spec in specs)
        if not confirm(
            f"Delete every row of {labels} here, and their inbox records, to rebuild them?",
            assume_yes=options["yes"],
        ):
            raise CommandError("rebuild cancelled; nothing was deleted.")
        results = [reset_projection(spec, subscriber=inbox.subscriber) for spec in specs]
        aggregates = " ".join(f"--aggregate {spec.label}" for spec in specs)
        bindings = " ".join(f"--binding '{key}'" for key in inbox.binding_keys)
        replay = (
            f"python manage.py replay_events --to {inbox.subscriber} --queue {inbox.queue} "
            f"{bindings} {aggregates}"
        )
        if options["json"]:
            body = {"reset": [r.as_dict() for r in results], "replay_command": replay}
            self.stdout.write(json.dumps(body, indent=2))
            return
        for result in results:
            self.stdout.write(
                f"{result.projection}: deleted {result.rows:,} rows, {result.versions:,} versions, "
                f"{result.inbox_records:,} inbox records"
            )
        self.stdout.write("Now replay the events on the writer side:")
        self.stdout.write(f"  {replay}")
        self.stdout.write(
            "(If the writer's outbox no longer holds every event, run `backfill "
            f"{specs[0].context}` there instead.)"
        )
