"""Delete published outbox rows older than a retention period; pending rows are never touched."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.outbox.conf import outbox_settings
from strangler.outbox.pruning import count_prunable_events, prune_published_events


class Command(BaseCommand):
    help = (
        "Delete outbox rows published more than --older-than DAYS ago (default "
        "STRANGLER_OUTBOX['RETENTION_DAYS']). Unpublished rows are always kept. Replay cannot "
        "re-send what was pruned. Asks for confirmation unless --yes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, metavar="DAYS", help="Retention in days.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--chunk-size", type=int, default=5000, help="Rows deleted per transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if days is None:
            days = outbox_settings().retention_days
        if days < 0:
            raise CommandError("--older-than must be 0 or more days.")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        count = count_prunable_events(older_than_days=days)
        if options["dry_run"] or count == 0:
            self.stdout.write(f"{count} published event(s) older than {days} day(s) to delete.")
            return
        if not options["yes"]:
            if not options.get("interactive", True) or not self.stdin_is_tty():
                raise CommandError(
                    f"{count} row(s) would be deleted; pass --yes to confirm non-interactively."
                )
            answer = input(f"Delete {count} published event(s) older than {days} day(s)? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                raise CommandError("Nothing deleted.")

        def progress(deleted: int) -> None:
            self.stdout.write(f"  deleted {deleted}/{count}")

        deleted = prune_published_events(
            older_than_days=days, chunk_size=options["chunk_size"], on_progress=progress
        )
        self.stdout.write(f"deleted {deleted} published event(s) older than {days} day(s).")

    @staticmethod
    def stdin_is_tty() -> bool:
        import sys

        return sys.stdin.isatty()
