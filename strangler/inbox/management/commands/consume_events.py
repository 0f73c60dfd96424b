"""`manage.py consume_events`: run the inbox consumer of this service until SIGTERM."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.bootstrap import build_consumer
from strangler.inbox.conf import InboxConfigurationError
from strangler.inbox.services import Outcome
from strangler.transport.base import TransportError


class Command(BaseCommand):
    help = (
        "Consume this service's event queue (STRANGLER_INBOX): validate and upcast each event, "
        "apply it through its registered handler exactly once and in aggregate order, ack after "
        "the commit, retry failures with backoff and dead-letter what cannot be applied. Runs "
        "until SIGTERM or SIGINT (the batch in flight is finished first); --once drains the "
        "queue and exits. Celery workers run the same consumer as a worker step instead "
        "(docs/howto/run-with-celery.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Drain the queue, then exit (for jobs and tests)."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            help="Messages applied per transaction (default STRANGLER_INBOX['BATCH_SIZE']).",
        )
        parser.add_argument(
            "--prefetch",
            type=int,
            help="Unacked messages the broker may push (default STRANGLER_INBOX['PREFETCH']).",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=0,
            help="Serve Prometheus /metrics of this process on 127.0.0.1:PORT (0: off).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the closing summary as JSON."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        overrides = {}
        for option in ("batch_size", "prefetch"):
            value = options[option]
            if value is not None:
                if value < 1:
                    raise CommandError(f"--{option.replace('_', '-')} must be at least 1.")
                overrides[option] = value
        try:
            consumer = build_consumer(**overrides)
        except InboxConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        conf = consumer.settings
        if options["metrics_port"]:
            from prometheus_client import start_http_server

            start_http_server(options["metrics_port"], addr="127.0.0.1")

        def request_stop(signum: int, frame: Any) -> None:
            consumer.stop()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        if options["verbosity"] >= 1 and not options["json"]:
            self.stdout.write(
                f"consuming {conf.queue} as {conf.subscriber} (batch {conf.batch_size}, "
                f"prefetch {conf.prefetch}, max attempts {conf.max_attempts})"
                + (", until drained" if options["once"] else ", until SIGTERM")
            )
        started = time.monotonic()
        try:
            stats = consumer.run(once=options["once"])
        except TransportError as exc:
            raise CommandError(
                f"cannot consume {conf.queue}: {exc}. Is the broker at BROKER_URL running, and "
                "was the subscription declared (manage.py setup_broker)?"
            ) from exc
        elapsed = time.monotonic() - started
        summary = {**stats.as_dict(), "seconds": round(elapsed, 3)}
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        counts = ", ".join(f"{o.value} {stats.outcomes[o.value]}" for o in Outcome)
        self.stdout.write(
            f"consumed {stats.total} messages in {elapsed:.1f}s ({stats.batches} batches): {counts}"
        )
