"""manage.py replay_events: republish stored events to one subscriber's queue, and no other."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.sync.arguments import moment
from strangler.sync.conf import sync_settings
from strangler.sync.progress import Progress
from strangler.sync.replay import ReplayError, ReplayFilter, replay_events, subscription_named
from strangler.transport import get_transport
from strangler.transport.base import Subscription


class Command(BaseCommand):
    help = (
        "Republish events stored in this side's outbox to one subscriber's queue only (never to "
        "the other subscribers), in the order they were recorded, with publisher confirms. Only "
        "event types the subscriber is bound to are sent; consumers skip what they already "
        "applied, so a replay is always safe. Use --dry-run to count first. Use it to rebuild a "
        "projection (see rebuild_projection) or to re-deliver a window of events."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--to",
            required=True,
            help="the subscriber (or its queue) in STRANGLER_SUBSCRIPTIONS",
        )
        parser.add_argument(
            "--queue",
            help="the subscriber's queue, if STRANGLER_SUBSCRIPTIONS here does not list it",
        )
        parser.add_argument(
            "--binding",
            action="append",
            default=[],
            help="with --queue: a topic pattern the subscriber is bound to (default '#')",
        )
        parser.add_argument(
            "--type",
            action="append",
            default=[],
            help="event type or topic pattern (catalog.product.*); repeatable",
        )
        parser.add_argument(
            "--aggregate",
            action="append",
            default=[],
            help="aggregate type (catalog.product) or one (catalog.product:42); repeatable",
        )
        parser.add_argument("--since", type=moment, help="recorded at or after (ISO 8601)")
        parser.add_argument("--until", type=moment, help="recorded before (ISO 8601)")
        parser.add_argument("--from-id", type=int, help="outbox id to start from (inclusive)")
        parser.add_argument(
            "--include-pending",
            action="store_true",
            help="also send events the relay has not published yet",
        )
        parser.add_argument("--batch-size", type=int, help="events per confirmed batch")
        parser.add_argument("--dry-run", action="store_true", help="count, send nothing")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["since"] and options["until"] and options["since"] >= options["until"]:
            raise CommandError("--since must be earlier than --until.")
        batch_size = options["batch_size"] or sync_settings().replay_batch_size
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        filters = ReplayFilter(
            types=tuple(options["type"]),
            aggregates=tuple(options["aggregate"]),
            since=options["since"],
            until=options["until"],
            from_id=options["from_id"],
            include_pending=options["include_pending"],
        )
        try:
            if options["queue"]:
                subscription = Subscription(
                    options["to"], options["queue"], tuple(options["binding"] or ["#"])
                )
            else:
                subscription = subscription_named(options["to"])
            quiet = options["verbosity"] == 0 or options["json"] or options["dry_run"]
            progress = Progress(
                None if quiet else self.stderr._out,
                f"replay to {subscription.queue}",
                None,
                unit="events",
            )

            def on_batch(count: int, total: int) -> None:
                progress.total = total
                progress.advance(count)

            result = replay_events(
                subscription,
                filters,
                transport_factory=get_transport,
                batch_size=batch_size,
                dry_run=options["dry_run"],
                on_batch=on_batch,
            )
            if not quiet:
                progress.finish()
        except ReplayError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
            return
        verb = "would replay" if result.dry_run else "replayed"
        self.stdout.write(
            f"{verb} {result.events:,} events to {result.queue} "
            f"(outbox ids {result.first_id}..{result.last_id})"
            + ("" if result.dry_run else f" in {result.seconds:.1f}s, {result.rate:,.0f}/s")
        )
        for event_type, count in sorted(result.by_type.items()):
            self.stdout.write(f"  {event_type}: {count:,}")
