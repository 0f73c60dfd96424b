"""manage.py reconcile: prove two stores of a context agree, by a tree of range checksums."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.sync.arguments import aggregates_named, confirm
from strangler.sync.conf import SyncConfigurationError, sync_settings
from strangler.sync.internal_api import InternalClient, PeerError
from strangler.sync.peers import HttpPeer, LocalPeer, SyncPeer
from strangler.sync.reconcile import (
    AggregateReport,
    ReconcileError,
    reconcile_aggregate,
    reconcile_result_record,
    repair_drift,
)

SHOWN_IDS = 20


class Command(BaseCommand):
    help = (
        "Compare the aggregates of a context on two sides (by default this process's database "
        "against the peer in STRANGLER_SYNC['PEERS']) and report ids missing on the target, "
        "extra on the target, and different (with the fields that differ). Both sides hash key "
        "ranges in their own database and only differing ranges are descended into, so the cost "
        "grows with the drift, not the table. Exit status 0 when equal, 1 when drift was found. "
        "--repair (on the writer, which must be the source) records fresh snapshots of missing "
        "and different ids and deletions of extra ids, which reach the reader through its inbox."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="a context (catalog) or one aggregate (catalog.product)")
        parser.add_argument(
            "--source",
            default="local",
            help="'local' (this process's database, the default) or the base URL of a side",
        )
        parser.add_argument(
            "--target",
            dest="target_url",
            help="base URL of the other side (default: STRANGLER_SYNC['PEERS'][context])",
        )
        parser.add_argument(
            "--repair", action="store_true", help="record events that fix the drift found"
        )
        parser.add_argument("--yes", action="store_true", help="repair without asking")
        parser.add_argument("--fanout", type=int, help="sub-ranges per differing range")
        parser.add_argument("--leaf-rows", type=int, help="fetch a range at most this big")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        specs = aggregates_named(options["target"])
        conf = sync_settings()
        fanout = options["fanout"] or conf.reconcile_fanout
        leaf_rows = options["leaf_rows"] or conf.reconcile_leaf_rows
        if fanout < 2 or leaf_rows < 1:
            raise CommandError("--fanout must be 2 or more and --leaf-rows 1 or more.")
        context = specs[0].context
        target_url = options["target_url"] or conf.peers.get(context)
        if not target_url:
            raise CommandError(
                f"no target for {context}: pass --target http://host:port of the other side, or "
                f"set STRANGLER_SYNC['PEERS'][{context!r}]."
            )
        target_setting = "--target" if options["target_url"] else None
        source = self._peer(options["source"], context, "--source")
        target = self._peer(target_url, context, target_setting)
        if options["repair"] and not isinstance(source, LocalPeer):
            raise CommandError(
                "--repair records events on the writer: run it there, with --source local."
            )
        reports: list[AggregateReport] = []
        repairs: dict[str, dict[str, int]] = {}
        try:
            for spec in specs:
                report = reconcile_aggregate(
                    spec,
                    source=source,
                    target=target,
                    fanout=fanout,
                    leaf_rows=leaf_rows,
                    on_level=None if options["json"] else self._level_printer(),
                )
                reports.append(report)
                if options["repair"] and report.drift:
                    prompt = (
                        f"Repair {spec.label}: {len(report.missing) + len(report.different)} "
                        f"snapshots and {len(report.extra)} deletions on the target?"
                    )
                    if not report.extra or confirm(prompt, assume_yes=options["yes"]):
                        repairs[spec.label] = repair_drift(spec, report)
        except (ReconcileError, PeerError, SyncConfigurationError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            source.close()
            target.close()
        for spec, report in zip(specs, reports, strict=False):
            reconcile_result_record(
                spec,
                report,
                source=source.name,
                target=target.name,
                repaired=repairs.get(spec.label),
            )
        drift = sum(r.drift for r in reports)
        if options["json"]:
            body = {
                "equal": drift == 0,
                "source": source.name,
                "target": target.name,
                "aggregates": [r.as_dict() for r in reports],
                "repairs": repairs,
            }
            self.stdout.write(json.dumps(body, indent=2))
        else:
            for report in reports:
                self._print_report(report, repairs.get(report.aggregate))
        if drift:
            sys.exit(1)

    def _peer(self, where: str, context: str, configured_by: str | None) -> SyncPeer:
        """The local database, or the side at a base URL (`configured_by` names where it came from;
        None: STRANGLER_SYNC['PEERS'])."""
        if where == "local":
            return LocalPeer()
        if not where.startswith(("http://", "https://")):
            raise CommandError(f"{where!r} is neither 'local' nor an http(s):// base URL.")
        client = InternalClient.from_settings(where, context=context, configured_by=configured_by)
        return HttpPeer(client)

    def _level_printer(self):  # type: ignore[no-untyped-def]
        def on_level(report: AggregateReport, differing: int) -> None:
            self.stderr.write(
                f"{report.aggregate}: level {report.levels}, {report.ranges_compared} ranges "
                f"compared, {differing} differing, {report.rows_hashed:,} rows hashed"
            )

        return on_level

    def _print_report(self, report: AggregateReport, repair: dict[str, int] | None) -> None:
        write = self.stdout.write
        verdict = "equal" if not report.drift else f"DRIFT: {report.drift} aggregates"
        write(
            f"{report.aggregate}: {verdict} (source {report.source_count:,} rows, target "
            f"{report.target_count:,}; {report.rows_hashed:,} rows hashed, "
            f"{report.rows_fetched:,} fetched, {report.seconds:.2f}s)"
        )
        listed = (("missing on target", report.missing), ("extra on target", report.extra))
        for title, ids in listed:
            if ids:
                shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
                more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
                write(f"  {title} ({len(ids)}): {shown}{more}")
        if report.different:
            write(f"  different ({len(report.different)}):")
            for item in report.different[:SHOWN_IDS]:
                fields = "; ".join(
                    f"{name}: {left!r} != {right!r}" for name, (left, right) in item.fields.items()
                )
                write(f"    {item.id}: {fields}")
            if len(report.different) > SHOWN_IDS:
                write(f"    and {len(report.different) - SHOWN_IDS} more (see --json)")
        if repair:
            write(
                f"  repair: recorded {repair['snapshots']} snapshots and {repair['deletions']} "
                "deletions; run reconcile again once the consumers caught up."
            )
