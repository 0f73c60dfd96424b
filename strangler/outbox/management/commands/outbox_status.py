"""Show the outbox backlog: pending events, oldest pending age, recent publishing rate."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from strangler.outbox.selectors import outbox_status


class Command(BaseCommand):
    help = (
        "Show the outbox of this database: events pending (and waiting for a retry), the age of "
        "the oldest pending event, events published over the last --window seconds and the rate, "
        "rows kept for replay, and the first pending error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument(
            "--window", type=int, default=60, help="Seconds the published rate is measured over."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["window"] < 1:
            from django.core.management.base import CommandError

            raise CommandError("--window must be at least 1 second.")
        status = outbox_status(window_seconds=options["window"])
        if options["json"]:
            self.stdout.write(json.dumps(status.as_dict()))
            return
        age = status.oldest_pending_age_seconds
        rows = [
            ("pending", str(status.pending)),
            ("waiting for retry", str(status.retrying)),
            ("oldest pending age", "-" if age is None else f"{age:.1f}s"),
            (
                f"published last {status.window_seconds}s",
                f"{status.published_in_window} ({status.published_per_second:.1f}/s)",
            ),
            ("published rows kept", str(status.published_retained)),
            ("first pending error", status.last_error or "-"),
        ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"{label:<{width}}  {value}")
