"""manage.py dead_letters list|show|requeue|purge: what failed, why, and what to do with it."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.sync.arguments import confirm
from strangler.sync.dead_letters import (
    DeadLetter,
    DeadLetterError,
    DeadLetterSelector,
    consumer_subscription,
    find_dead_letter,
    list_dead_letters,
    purge_dead_letters,
    requeue_dead_letters,
)
from strangler.transport import get_transport
from strangler.transport.base import TransportError


class Command(BaseCommand):
    help = (
        "Inspect and act on the dead letters of this side's consumer (its '<queue>.dead'): "
        "`list` shows what failed, why, how often and when; `show ID` one message in full; "
        "`requeue` sends messages back to the consumer's queue after a fix (--all, --id, "
        "--type); `purge` deletes them for good, after confirmation (--yes to skip)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--subscriber",
            help="whose dead letters (default: this side's STRANGLER_INBOX subscriber)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON")
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="list dead letters, oldest first")
        listing.add_argument("--limit", type=int, default=100, help="at most this many")
        listing.add_argument("--type", action="append", default=[], help="only this event type")
        show = actions.add_parser("show", help="one dead letter: headers, error and payload")
        show.add_argument("id", help="the event id (ce-id)")
        for name, text in (
            ("requeue", "send dead letters back to the consumer's queue"),
            ("purge", "delete dead letters for good"),
        ):
            action = actions.add_parser(name, help=text)
            action.add_argument("--all", action="store_true", help="every dead letter")
            action.add_argument("--id", action="append", default=[], help="an event id")
            action.add_argument("--type", action="append", default=[], help="an event type")
            if name == "purge":
                action.add_argument("--yes", action="store_true", help="do not ask")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            subscription = consumer_subscription(options["subscriber"])
            with get_transport() as transport:
                self._run(transport, subscription, options)
        except (DeadLetterError, TransportError) as exc:
            raise CommandError(str(exc)) from exc

    def _run(self, transport: Any, subscription: Any, options: dict[str, Any]) -> None:
        action = options["action"]
        as_json = options["json"]
        if action == "list":
            if options["limit"] < 1:
                raise CommandError("--limit must be at least 1.")
            letters, depth = list_dead_letters(transport, subscription, limit=options["limit"])
            if options["type"]:
                letters = [letter for letter in letters if letter.type in options["type"]]
            if as_json:
                body = {
                    "queue": subscription.dead_letter_queue,
                    "depth": depth,
                    "dead_letters": [letter.summary() for letter in letters],
                }
                self.stdout.write(json.dumps(body, indent=2))
                return
            self._print_list(subscription.dead_letter_queue, depth, letters)
        elif action == "show":
            letter = find_dead_letter(transport, subscription, options["id"])
            details = letter.details()
            if as_json:
                self.stdout.write(json.dumps(details, indent=2, default=str))
                return
            for key in ("id", "type", "subject", "source", "reason", "attempts", "failed_at"):
                self.stdout.write(f"{key:>10}: {details[key]}")
            self.stdout.write(f"{'queue':>10}: {details['queue']}")
            self.stdout.write(f"{'error':>10}: {details['error']}")
            self.stdout.write("   headers: " + json.dumps(details["headers"], default=str))
            self.stdout.write("      data: " + json.dumps(details["data"], indent=2))
        else:
            selector = DeadLetterSelector(
                ids=frozenset(options["id"]),
                types=frozenset(options["type"]),
                everything=options["all"],
            )
            if action == "requeue":
                done = requeue_dead_letters(transport, subscription, selector)
                verb = f"requeued to {subscription.queue}"
            else:
                what = "every dead letter" if selector.everything else "the selected dead letters"
                if not confirm(
                    f"Delete {what} of {subscription.dead_letter_queue} for good?",
                    assume_yes=options["yes"],
                ):
                    raise CommandError("purge cancelled; nothing was deleted.")
                done = purge_dead_letters(transport, subscription, selector)
                verb = "purged"
            if as_json:
                body = {"action": action, "count": len(done), "ids": [d.id for d in done]}
                self.stdout.write(json.dumps(body, indent=2))
                return
            self.stdout.write(f"{len(done)} dead letters {verb}.")
            for letter in done[:20]:
                self.stdout.write(f"  {letter.id} {letter.type} {letter.subject}")

    def _print_list(self, queue: str, depth: int, letters: list[DeadLetter]) -> None:
        self.stdout.write(f"{queue}: {depth} dead letters")
        if not letters:
            return
        self.stdout.write(f"{'failed at':<27} {'attempts':>8}  {'type':<28} {'subject':<10} id")
        for letter in letters:
            self.stdout.write(
                f"{letter.failed_at:<27} {letter.attempts:>8}  {letter.type:<28} "
                f"{letter.subject:<10} {letter.id}"
            )
            self.stdout.write(f"{'':<38}{letter.reason}: {letter.error[:200]}")
