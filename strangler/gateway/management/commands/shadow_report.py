"""`manage.py shadow_report`: per route, how often the service answered like the monolith."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from strangler.gateway.selectors import shadow_report
from strangler.gateway.services import shadow_results_clear


class Command(BaseCommand):
    help = (
        "Show shadow traffic results per route: requests compared, match rate and the most "
        "frequent differences (path: monolith value -> service value)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--route", help="Only this route (its name as the gateway reports it).")
        parser.add_argument(
            "--top", type=int, default=5, help="Differences shown per route (default 5)."
        )
        parser.add_argument("--json", action="store_true", help="Print JSON for scripts.")
        parser.add_argument(
            "--reset", action="store_true", help="Delete the stored results (of --route, or all)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reset"]:
            deleted = shadow_results_clear(route=options["route"])
            self.stdout.write(f"cleared shadow results ({deleted} mismatches deleted)")
            return
        reports = shadow_report(route=options["route"], top=max(0, options["top"]))
        if options["json"]:
            self.stdout.write(json.dumps({"routes": [r.to_dict() for r in reports]}, indent=2))
            return
        if not reports:
            self.stdout.write("no shadow traffic recorded yet")
            return
        for report in reports:
            rate = "-" if report.match_rate is None else f"{report.match_rate:.1%}"
            self.stdout.write(
                f"{report.route}: {report.requests} requests, {report.matches} matched ({rate}), "
                f"{report.mismatches} differed, {report.errors} service errors"
            )
            for difference in report.top_differences:
                self.stdout.write(f"  {difference.count:>6}x  {difference.example}")
