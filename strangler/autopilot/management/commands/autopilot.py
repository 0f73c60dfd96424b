"""`manage.py autopilot`: run a context's migration plan, or pause, resume, skip, abort, show it."""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.autopilot.conf import AutopilotConfigurationError
from strangler.autopilot.controller import Controller
from strangler.autopilot.plans import PlanError
from strangler.autopilot.selectors import autopilot_status, render_autopilot
from strangler.autopilot.services import (
    AutopilotError,
    gate_skip,
    run_abort,
    run_pause,
    run_resume,
)
from strangler.ownership.conf import OwnershipConfigurationError


class Command(BaseCommand):
    help = (
        "Run a context's migration plan (STRANGLER_AUTOPILOT['PLANS']): `run` evaluates its "
        "current phase every INTERVAL until the run completes or rolls back; `step` evaluates "
        "once (for a scheduler). A phase advances only when every gate holds; a breach during "
        "canary returns routing to the monolith, after the cutover it returns the writes too. "
        "Every evaluation and decision is kept with its evidence in the control database; a "
        "run survives its controller and a lease keeps a second controller off it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name, text in (
            ("run", "drive the plan until the run completes or rolls back"),
            ("step", "one evaluation of the current phase, and its decision"),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("context")
            sub.add_argument(
                "--dry-run", action="store_true", help="print what it would do; change nothing"
            )
            sub.add_argument("--json", action="store_true", help="print the outcome as JSON")
            if name == "run":
                sub.add_argument("--max-steps", type=int, help="stop after this many evaluations")
        for name, text in (
            ("pause", "stop advancing at the current phase"),
            ("resume", "go on after a pause"),
            ("abort", "end the run where it stands (routes and writer stay as they are)"),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("context")
            if name != "resume":
                sub.add_argument("--reason", default="", help="kept on record")
        skip = actions.add_parser("skip-gate", help="count a gate of the current phase as held")
        skip.add_argument("context")
        skip.add_argument("gate", help="e.g. latency, error_rate, shadow, drift")
        skip.add_argument("--reason", required=True, help="why (kept on record)")
        status = actions.add_parser("status", help="where the runs stand, with their evidence")
        status.add_argument("contexts", nargs="*")
        status.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        actor = f"operator {getpass.getuser()}"
        try:
            if action in ("run", "step"):
                self._drive(action, options)
            elif action == "pause":
                run = run_pause(context=options["context"], actor=actor, reason=options["reason"])
                self.stdout.write(f"run {run.pk} of {run.context} paused at {run.phase}.")
            elif action == "resume":
                run = run_resume(context=options["context"], actor=actor)
                self.stdout.write(f"run {run.pk} of {run.context} resumed at {run.phase}.")
            elif action == "abort":
                run = run_abort(context=options["context"], actor=actor, reason=options["reason"])
                self.stdout.write(
                    f"run {run.pk} of {run.context} aborted at {run.phase}; routes and writer "
                    "are left as they are (see migration_status)."
                )
            elif action == "skip-gate":
                run = gate_skip(
                    context=options["context"],
                    gate=options["gate"],
                    reason=options["reason"],
                    actor=actor,
                )
                self.stdout.write(
                    f"gate {options['gate']} of {run.phase} counts as held from now on; "
                    f"reason on record: {options['reason']}"
                )
            else:
                self._status(options)
        except (
            AutopilotError,
            AutopilotConfigurationError,
            PlanError,
            OwnershipConfigurationError,
        ) as exc:
            raise CommandError(str(exc)) from exc

    def _drive(self, action: str, options: dict[str, Any]) -> None:
        # With --json the progress lines go to stderr, so stdout holds the JSON alone.
        echo = self._echo_stderr if options["json"] else self._echo
        controller = Controller(options["context"], dry_run=options["dry_run"], echo=echo)
        if action == "step" or options["dry_run"]:
            try:
                outcome = controller.step()
            finally:
                controller.release()  # a step from a scheduler must not hold the run after it
        else:
            outcome = controller.run_until_done(max_steps=options["max_steps"])
        if options["json"]:
            self.stdout.write(json.dumps(outcome.to_dict(), indent=2, default=str))
        if options["dry_run"]:
            echo("dry run: nothing was changed.")

    def _status(self, options: dict[str, Any]) -> None:
        from strangler.ownership.conf import ownership_settings

        contexts = options["contexts"] or sorted(ownership_settings().contexts)
        found = {context: autopilot_status(context) for context in contexts}
        if options["json"]:
            self.stdout.write(json.dumps(found, indent=2, default=str))
            return
        for context, status in found.items():
            self.stdout.write(f"{context}:")
            self.stdout.write("\n".join(render_autopilot(status, decisions=10)))

    def _echo_stderr(self, line: str) -> None:
        self.stderr.write(line)
        self.stderr.flush()

    def _echo(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
