"""manage.py copy_context: fill this side's projections from the writer in bulk, then reconcile."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.sync.arguments import aggregates_named, positive_number
from strangler.sync.conf import AggregateSpec, SyncConfigurationError, sync_settings
from strangler.sync.copy_phase import (
    ChunkDone,
    CopyResult,
    Throttle,
    run_copy,
    wait_for_stream,
)
from strangler.sync.copy_target import CopyError, check_projection, start_copy_run
from strangler.sync.internal_api import InternalClient, PeerError
from strangler.sync.models import CopyRun
from strangler.sync.peers import HttpPeer, LocalPeer
from strangler.sync.progress import Progress
from strangler.sync.reconcile import AggregateReport, ReconcileError, reconcile_aggregate


class Command(BaseCommand):
    help = (
        "Copy phase, run on the reading side (the new service): stream every row of a context's "
        "aggregates from the writer over its /internal/sync/ endpoints (PostgreSQL COPY on both "
        "sides; batched inserts on SQLite) in key-ordered chunks, each read in one snapshot with "
        "the rows' aggregate versions and merged here with a checkpoint, seeding the inbox's "
        "per-aggregate versions so the event stream that follows skips what was copied. "
        "Declares this side's inbox queue first, so no event written during the copy is missed. "
        "Resumable (--resume), throttled (--rows-per-second; pauses while the writer's outbox "
        "backlog or a probe's latency exceeds a bound), and ends by waiting for the stream to "
        "catch up and reconciling. Exit status 0 when equal, 1 when drift remains."
    )
    # A callable called with a ChunkDone after each chunk is committed (programmatic use only:
    # call_command("copy_context", ..., on_chunk=...)).
    stealth_options = ("on_chunk",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="a context (catalog) or one aggregate (catalog.product)")
        parser.add_argument(
            "--source",
            help="base URL of the writer (default: STRANGLER_SYNC['PEERS'][context])",
        )
        parser.add_argument(
            "--resume", action="store_true", help="continue the unfinished run from its checkpoint"
        )
        parser.add_argument(
            "--restart", action="store_true", help="abandon an unfinished run and start over"
        )
        parser.add_argument("--chunk-rows", type=int, help="rows per chunk (COPY_CHUNK_ROWS)")
        parser.add_argument(
            "--rows-per-second", type=positive_number, help="copy at most this many rows per second"
        )
        parser.add_argument(
            "--max-writer-backlog",
            type=int,
            help="pause while the writer's outbox holds more unpublished events",
        )
        parser.add_argument(
            "--max-writer-latency",
            type=positive_number,
            help="pause while a probe of the writer takes longer (seconds)",
        )
        parser.add_argument(
            "--no-reconcile", action="store_true", help="stop after the copy; reconcile later"
        )
        parser.add_argument(
            "--catch-up-timeout",
            type=positive_number,
            help="seconds to wait for the stream to catch up and reconcile to be equal",
        )
        parser.add_argument(
            "--no-declare",
            action="store_true",
            help="do not declare this side's inbox queue first (it must already exist)",
        )
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if not apps.is_installed("strangler.inbox"):
            raise CommandError(
                "this side has no inbox (strangler.inbox is not installed): copy_context runs on "
                "the side that consumes the context's events."
            )
        if options["resume"] and options["restart"]:
            raise CommandError("--resume and --restart exclude each other; choose one.")
        specs = aggregates_named(options["target"])
        conf = sync_settings()
        chunk_rows = options["chunk_rows"] or conf.copy_chunk_rows
        if chunk_rows < 1:
            raise CommandError("--chunk-rows must be at least 1.")
        throttle = Throttle(
            rows_per_second=options["rows_per_second"],
            max_writer_backlog=options["max_writer_backlog"] or conf.copy_max_writer_backlog,
            max_writer_latency=options["max_writer_latency"] or conf.copy_max_writer_latency,
        )
        context = specs[0].context
        source_url = options["source"] or conf.peers.get(context)
        if not source_url:
            raise CommandError(
                f"no writer to copy {context} from: pass --source http://host:port of the writer, "
                f"or set STRANGLER_SYNC['PEERS'][{context!r}]."
            )
        if not source_url.startswith(("http://", "https://")):
            raise CommandError(f"--source {source_url!r} is not an http(s):// base URL.")
        try:
            for spec in specs:
                check_projection(spec)
        except SyncConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        if not options["no_declare"]:
            self._declare_inbox_queue()
        client = InternalClient.from_settings(
            source_url, context=context, configured_by="--source" if options["source"] else None
        )
        source = HttpPeer(client)
        quiet = options["verbosity"] == 0 or options["json"]
        injected: Callable[[ChunkDone], None] | None = options.get("on_chunk")
        results: list[dict[str, Any]] = []
        reports: list[AggregateReport] = []
        caught_up = True
        try:
            high_water = 0
            for spec in specs:
                result = self._copy(
                    spec, source, source_url, options, chunk_rows, throttle, quiet, injected
                )
                results.append(result.as_dict())
                high_water = max(high_water, result.high_water or 0)
            if not options["no_reconcile"]:
                timeout = options["catch_up_timeout"] or conf.copy_catch_up_timeout
                caught_up, reports = self._catch_up(specs, source, high_water, timeout, quiet)
        except (CopyError, PeerError, ReconcileError, SyncConfigurationError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            source.close()
        drift = sum(report.drift for report in reports)
        if options["json"]:
            body = {
                "copy": results,
                "caught_up": caught_up,
                "reconcile": [report.as_dict() for report in reports],
                "equal": None if options["no_reconcile"] else drift == 0,
            }
            self.stdout.write(json.dumps(body, indent=2))
        else:
            self._print(results, reports, caught_up)
        if drift:
            sys.exit(1)

    def _copy(
        self,
        spec: AggregateSpec,
        source: HttpPeer,
        source_url: str,
        options: dict[str, Any],
        chunk_rows: int,
        throttle: Throttle,
        quiet: bool,
        injected: Callable[[ChunkDone], None] | None,
    ) -> CopyResult:
        run, resumed = start_copy_run(
            spec,
            source=source_url,
            resume=options["resume"],
            restart=options["restart"],
            rate=options["rows_per_second"],
        )
        if run.status == CopyRun.Status.DONE:
            return CopyResult(
                aggregate=spec.label,
                run_id=run.pk,
                rows=0,
                written=0,
                skipped=0,
                rows_total=run.rows_total,
                chunks=0,
                last_key=run.last_key,
                high_water=run.high_water,
                seconds=0.0,
                waited_seconds=0.0,
                resumed=True,
                finished=True,
            )
        if not resumed:
            run.rows_total = source.describe(spec).count
            run.save(update_fields=["rows_total"])
        progress = Progress(
            None if quiet else self.stderr._out,
            f"copy {spec.label}",
            run.rows_total or None,
            initial=run.rows_done + run.rows_skipped,
        )

        def on_chunk(done: ChunkDone) -> None:
            progress.advance(done.rows)
            if injected is not None:
                injected(done)

        def on_wait(reason: str) -> None:
            if not quiet:
                self.stderr.write(f"{spec.label}: {reason}")

        result = run_copy(
            spec,
            run,
            source=source,
            chunk_rows=chunk_rows,
            throttle=throttle,
            resumed=resumed,
            on_chunk=on_chunk,
            on_wait=on_wait,
        )
        progress.finish()
        return result

    def _catch_up(
        self,
        specs: list[AggregateSpec],
        source: HttpPeer,
        high_water: int,
        timeout: float,
        quiet: bool,
    ) -> tuple[bool, list[AggregateReport]]:
        """Wait for the writer to publish past the copy's high water, then reconcile until equal
        (the inbox may still be applying) or the timeout."""
        deadline = time.monotonic() + timeout
        caught_up = wait_for_stream(source, high_water, timeout=timeout)
        if not quiet:
            state = "published" if caught_up else "NOT yet published"
            self.stderr.write(f"writer events up to outbox id {high_water:,} {state}; reconciling")
        conf = sync_settings()
        target = LocalPeer()
        while True:
            reports = [
                reconcile_aggregate(
                    spec,
                    source=source,
                    target=target,
                    fanout=conf.reconcile_fanout,
                    leaf_rows=conf.reconcile_leaf_rows,
                )
                for spec in specs
            ]
            if all(report.drift == 0 for report in reports) or time.monotonic() >= deadline:
                return caught_up, reports
            time.sleep(1.0)

    def _declare_inbox_queue(self) -> None:
        """Declare this side's queue before the first snapshot: every event the writer publishes
        from now on reaches it, and every earlier one is in the rows a snapshot reads."""
        from strangler.inbox.conf import inbox_settings
        from strangler.transport import get_transport
        from strangler.transport.base import TransportError

        transport = get_transport()
        try:
            transport.declare_exchanges()
            transport.declare_subscription(inbox_settings().subscription)
        except TransportError as exc:
            raise CommandError(
                f"cannot declare this side's inbox queue ({exc}): the copy needs it bound before "
                "the first snapshot so that no event written meanwhile is missed. Start the "
                "broker, or pass --no-declare if the queue already exists."
            ) from exc
        finally:
            transport.close()

    def _print(
        self, results: list[dict[str, Any]], reports: list[AggregateReport], caught_up: bool
    ) -> None:
        for item in results:
            how = "resumed run" if item["resumed"] else "run"
            self.stdout.write(
                f"{item['aggregate']}: {item['rows']:,} rows copied in {item['seconds']:.1f}s "
                f"({item['rows_per_second']:,.0f}/s; {item['written']:,} written, "
                f"{item['skipped']:,} already newer here), {item['chunks']} chunks, {how} "
                f"{item['run_id']}, outbox high water {item['high_water']}"
            )
        if not caught_up:
            self.stdout.write("The writer has not yet published every event up to the high water.")
        for report in reports:
            verdict = "equal" if not report.drift else f"DRIFT: {report.drift} aggregates"
            self.stdout.write(
                f"reconcile {report.aggregate}: {verdict} (writer {report.source_count:,} rows, "
                f"here {report.target_count:,})"
            )
            if report.drift:
                self.stdout.write(
                    "  run `reconcile` on the writer for the ids (and --repair to fix them)."
                )
