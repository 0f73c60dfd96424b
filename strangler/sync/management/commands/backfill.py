"""manage.py backfill: record a snapshot event for every existing row of a context's aggregates."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.sync.arguments import aggregates_named, key_list, positive_number
from strangler.sync.backfill import BackfillError, backfill_ids, run_backfill, start_run
from strangler.sync.conf import SyncConfigurationError, sync_settings
from strangler.sync.progress import Progress


class Command(BaseCommand):
    help = (
        "Stream a snapshot event of every existing row of a context (or one aggregate) through "
        "the outbox, including rows written before the outbox existed, so a new store can be "
        "filled. Runs on the writer side, in keyset batches of one transaction each; a crashed "
        "run continues where it stopped with --resume. Consumers skip snapshots older than what "
        "they already have, so a backfill is safe while traffic flows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="a context (catalog) or one aggregate (catalog.product)")
        parser.add_argument(
            "--resume", action="store_true", help="continue the unfinished run from its checkpoint"
        )
        parser.add_argument(
            "--restart", action="store_true", help="abandon an unfinished run and start over"
        )
        parser.add_argument(
            "--rate", type=positive_number, help="at most this many events per second"
        )
        parser.add_argument("--batch-size", type=int, help="rows per transaction (default 1000)")
        parser.add_argument(
            "--ids", type=key_list, help="only these ids, e.g. 1,2,10-20 (one aggregate only)"
        )
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        specs = aggregates_named(options["target"])
        if options["resume"] and options["restart"]:
            raise CommandError("--resume and --restart exclude each other; choose one.")
        batch_size = options["batch_size"] or sync_settings().backfill_batch_size
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        quiet = options["verbosity"] == 0 or options["json"]
        results: list[dict[str, Any]] = []
        try:
            if options["ids"] is not None:
                if len(specs) != 1:
                    raise CommandError("--ids needs one aggregate, e.g. catalog.product.")
                count = backfill_ids(specs[0], options["ids"], batch_size=batch_size)
                results.append({"aggregate": specs[0].label, "events": count, "ids": True})
            for spec in specs if options["ids"] is None else []:
                spec.snapshot()  # fail before starting when this side cannot build snapshots
                run, resumed = start_run(
                    spec,
                    resume=options["resume"],
                    restart=options["restart"],
                    rate=options["rate"],
                )
                stream = None if quiet else self.stderr._out
                progress = Progress(stream, spec.label, None, initial=run.rows_done)

                def on_batch(count: int, total: int, progress: Progress = progress) -> None:
                    progress.total = total
                    progress.advance(count)

                result = run_backfill(
                    spec,
                    run,
                    batch_size=batch_size,
                    rate=options["rate"],
                    resumed=resumed,
                    on_batch=on_batch,
                )
                progress.finish()
                results.append(result.as_dict())
        except (BackfillError, SyncConfigurationError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps({"backfill": results}, indent=2))
            return
        for item in results:
            if item.get("ids"):
                self.stdout.write(f"{item['aggregate']}: {item['events']} snapshot events recorded")
                continue
            how = "resumed run" if item["resumed"] else "run"
            self.stdout.write(
                f"{item['aggregate']}: {item['events']:,} snapshot events recorded in "
                f"{item['seconds']:.1f}s ({item['events_per_second']:,.0f}/s), {how} "
                f"{item['run_id']}, {item['rows_total']:,} rows in all, last id {item['last_key']}"
            )
        self.stdout.write(
            "The relay publishes them; check progress with the outbox backlog and consumer lag."
        )
