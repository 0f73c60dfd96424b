"""`manage.py migration_status`: per context, who writes it and how far the sides are apart."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.cutover.status import context_status
from strangler.ownership.conf import OwnershipConfigurationError, ownership_settings


class Command(BaseCommand):
    help = (
        "Print, per context (STRANGLER_OWNERSHIP['CONTEXTS']): its writer, whether writes are "
        "frozen, the last cutover, each side's outbox backlog for the context, the reader's "
        "consumer lag and dead letters, and how many aggregates the reader is behind the "
        "writer, the sagas waiting for its answer (in flight, overdue, how the others ended), "
        "and where its autopilot run stands (gates, decisions). The other side is "
        "asked over /internal/cutover/ (STRANGLER_SYNC['PEERS']); "
        "--json for scripts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("contexts", nargs="*", help="Contexts to show (default: all).")
        parser.add_argument("--peer", help="Base URL of the other side (overrides PEERS).")
        parser.add_argument("--json", action="store_true", help="Print JSON.")
        parser.add_argument(
            "--no-versions",
            action="store_true",
            help="Skip the per-aggregate version comparison (it reads every version row).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            known = sorted(ownership_settings().contexts)
        except OwnershipConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        contexts = options["contexts"] or known
        unknown = sorted(set(contexts) - set(known))
        if unknown:
            raise CommandError(
                f"unknown context(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}."
            )
        statuses = [
            context_status(c, peer_url=options["peer"], versions=not options["no_versions"])
            for c in contexts
        ]
        if options["json"]:
            self.stdout.write(json.dumps(statuses, indent=2, default=str))
            return
        for status in statuses:
            self.stdout.write(render_status(status))


def render_status(status: dict[str, Any]) -> str:
    """A human-readable block for one context."""
    frozen = f"FROZEN ({status['frozen_reason']})" if status["frozen"] else "open"
    lines = [
        f"{status['context']}: writer {status['writer']}, writes {frozen}, epoch {status['epoch']}"
    ]
    run = status.get("last_cutover")
    if run:
        lines.append(
            f"  last cutover: run {run['id']} {run['source']} -> {run['target']} {run['state']}"
            f" (step {run['step'] or '-'})"
        )
    for side in status["sides"]:
        if side.get("error"):
            lines.append(f"  {side['name']}: cannot be asked: {side['error']}")
            continue
        lag = side.get("inbox_lag_seconds")
        dead = side.get("dead_letters")
        dead_text = f"dead letters {'?' if dead is None else dead}"
        lines.append(
            f"  {side['name']}{' (writer)' if side['name'] == status['writer'] else ''}: "
            f"outbox pending {side['outbox_pending']}, consumer lag "
            f"{'-' if lag is None else f'{lag:.3f}s'}, {dead_text}, rows {side['counts']}"
        )
    behind = status.get("reader_behind")
    if behind is not None:
        lines.append(f"  reader behind writer: {behind} aggregates")
    if "sagas" in status:
        from strangler.sagas.selectors import render_sagas

        lines.extend(render_sagas(status["sagas"]))
    if "autopilot" in status:
        from strangler.autopilot.selectors import render_autopilot

        lines.extend(render_autopilot(status["autopilot"]))
    return "\n".join(lines)
