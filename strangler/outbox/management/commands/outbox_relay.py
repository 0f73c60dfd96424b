"""Publish the outbox to the broker: until SIGTERM, or once (`--once`) for everything pending."""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.bootstrap import build_relay
from strangler.outbox import wakeup
from strangler.outbox.conf import outbox_settings
from strangler.transport.base import TransportError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Publish outbox events to the broker with batched publisher confirms and mark them "
        "published only after the broker confirmed them. Runs until SIGTERM/SIGINT (the batch in "
        "flight is finished first), woken right after each commit (LISTEN/NOTIFY on PostgreSQL) "
        "and sweeping on a timer. Several relays may run at once on PostgreSQL. With --once it "
        "publishes everything pending and exits (exit status 1 if the broker is unreachable). "
        "Under Celery, a beat-scheduled task runs the same relay instead "
        "(docs/howto/run-with-celery.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Publish everything pending, then exit."
        )
        parser.add_argument(
            "--batch-size",
            type=_positive_int,
            help="Events per batch (default STRANGLER_OUTBOX['BATCH_SIZE']).",
        )
        parser.add_argument(
            "--sweep-interval",
            type=_positive_float,
            help="Seconds between sweeps when nothing wakes the relay "
            "(default STRANGLER_OUTBOX['SWEEP_INTERVAL']).",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            help="Serve Prometheus metrics on 127.0.0.1:PORT while running.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the closing summary as JSON."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        settings = outbox_settings()
        if options["sweep_interval"]:
            settings = dataclasses.replace(settings, sweep_interval=options["sweep_interval"])
        if options["metrics_port"] is not None:
            from prometheus_client import start_http_server

            start_http_server(options["metrics_port"], addr="127.0.0.1")
        relay = build_relay(settings=settings, batch_size=options["batch_size"])
        try:
            if options["once"]:
                try:
                    summary = relay.publish_all_pending()
                except TransportError as exc:
                    raise CommandError(
                        f"{exc}. Nothing was marked published; start the broker (BROKER_URL) "
                        "and run again."
                    ) from exc
            else:
                stop = threading.Event()

                def request_stop(signum: int, frame: Any) -> None:
                    stop.set()
                    wakeup.wake()

                signal.signal(signal.SIGTERM, request_stop)
                signal.signal(signal.SIGINT, request_stop)
                self.stdout.write(
                    f"outbox relay running (batch {relay.batch_size}, sweep every "
                    f"{settings.sweep_interval}s); SIGTERM or Ctrl-C stops it"
                )
                self.stdout.flush()
                summary = relay.run(stop)
        finally:
            relay.close()
        line = {
            "batches": summary.batches,
            "published": summary.published,
            "failed": summary.failed,
            "held_back": summary.held_back,
            "seconds": round(summary.seconds, 3),
            "events_per_second": round(summary.events_per_second, 1),
        }
        if options["json"]:
            self.stdout.write(json.dumps(line))
        else:
            self.stdout.write(
                f"published {summary.published} event(s) in {summary.batches} batch(es), "
                f"{summary.failed} failed, {summary.held_back} held back, "
                f"{summary.seconds:.2f}s ({summary.events_per_second:.0f} events/s)"
            )
