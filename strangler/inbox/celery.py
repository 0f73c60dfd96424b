"""The inbox consumer as a Celery worker consumer step, for teams that run Celery workers.

Usage, in the service's Celery module::

    app = Celery("catalog-service")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    install_inbox_consumer(app)

`celery -A extracted.catalog.config worker` then consumes the STRANGLER_INBOX queue in a thread
next to the task pool, with the same code, batching and guarantees as `manage.py consume_events`
(both build the consumer with strangler.bootstrap.build_consumer). Before it starts, the step
makes the checks `consume_events` makes (Django's system checks, PREFETCH >= BATCH_SIZE,
importable handlers); a failed check stops the worker with exit status 1.

A consumer thread that dies is restarted with backoff; after `--inbox-max-restarts` deaths in a
row the worker stops with exit status 1, so a supervisor sees it. `--inbox-health-port PORT`
serves the consumer's state on 127.0.0.1: `GET /healthz` answers 200 while it consumes and 503
otherwise, `GET /metrics` the Prometheus metrics. The step starts and stops with the worker's
consumer (so also around broker reconnects); `--without-inbox` turns it off for workers that
should only run tasks.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from celery import Celery, bootsteps
from click import Option

if TYPE_CHECKING:
    from strangler.inbox.consumer import InboxConsumer

logger = logging.getLogger(__name__)

JOIN_TIMEOUT = 60.0
DEFAULT_MAX_RESTARTS = 5
RESTART_BACKOFF = (0.5, 30.0)  # first delay, longest delay (seconds), doubling in between
# A consumer that ran this long before it died counts as healthy: its next death starts the
# count of deaths in a row (and the backoff) from zero.
HEALTHY_RUN_SECONDS = 60.0


class ConsumerState(StrEnum):
    """Where the supervised consumer is; only RUNNING is healthy."""

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ConsumerHealth:
    """What the health probe reports."""

    state: str
    restarts: int
    deaths_in_a_row: int
    last_error: str
    messages: int
    batches: int

    @property
    def healthy(self) -> bool:
        return self.state == ConsumerState.RUNNING


class InboxSupervisor:
    """Runs an inbox consumer in a thread; restarts it with backoff when it dies.

    `build` makes a fresh consumer for each (re)start; after more than `max_restarts` deaths in
    a row the supervisor gives up and calls `on_give_up` with the last error.
    """

    def __init__(
        self,
        build: Callable[[], InboxConsumer],
        *,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        on_give_up: Callable[[str], None],
        backoff: tuple[float, float] = RESTART_BACKOFF,
    ) -> None:
        from strangler.outbox.relay import Backoff

        self.build = build
        self.max_restarts = max_restarts
        self.on_give_up = on_give_up
        self._backoff = Backoff(*backoff)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._consumer: InboxConsumer | None = None
        self._thread: threading.Thread | None = None
        self._state = ConsumerState.STOPPED
        self._restarts = 0
        self._deaths_in_a_row = 0
        self._last_error = ""

    def start(self, first: InboxConsumer | None = None) -> None:
        """Start the thread; `first` is a consumer already built (and so already checked)."""
        self._stopping.clear()
        self._set(ConsumerState.STARTING)
        self._thread = threading.Thread(
            target=self._supervise, args=(first,), name="strangler-inbox-consumer", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Finish the batch in flight, then return (the worker waits for it)."""
        self._stopping.set()
        with self._lock:
            consumer = self._consumer
        if consumer is not None:
            logger.info("inbox consumer stopping after the batch in flight")
            consumer.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("the inbox consumer did not stop within %ss", timeout)
        self._thread = None
        if self._state is not ConsumerState.FAILED:
            self._set(ConsumerState.STOPPED)

    def health(self) -> ConsumerHealth:
        with self._lock:
            stats = self._consumer.stats if self._consumer is not None else None
            alive = self._thread is not None and self._thread.is_alive()
            state = self._state
            if state is ConsumerState.RUNNING and not alive:
                state = ConsumerState.STOPPED  # never report a dead thread as running
            return ConsumerHealth(
                state=state.value,
                restarts=self._restarts,
                deaths_in_a_row=self._deaths_in_a_row,
                last_error=self._last_error,
                messages=stats.total if stats else 0,
                batches=stats.batches if stats else 0,
            )

    def _set(self, state: ConsumerState, consumer: InboxConsumer | None = None) -> None:
        with self._lock:
            self._state = state
            if consumer is not None:
                self._consumer = consumer

    def _supervise(self, first: InboxConsumer | None) -> None:
        from django.db import connections

        consumer = first
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                if consumer is None:
                    consumer = self.build()
                self._set(ConsumerState.RUNNING, consumer)
                if self._stopping.is_set():  # stop() came before the consumer was known
                    return
                consumer.run()
                return  # run() returns only when stop() was called
            except Exception as exc:
                if self._stopping.is_set():
                    return
                if not self._restart_after(exc, time.monotonic() - started):
                    return
            finally:
                consumer = None
                connections.close_all()

    def _restart_after(self, exc: Exception, ran_for: float) -> bool:
        """Record a death; wait the backoff and say True, or give up and say False."""
        error = f"{type(exc).__name__}: {exc}"
        if ran_for >= HEALTHY_RUN_SECONDS:
            self._deaths_in_a_row = 0
            self._backoff.reset()
        self._deaths_in_a_row += 1
        self._last_error = error
        if self._deaths_in_a_row > self.max_restarts:
            logger.critical(
                "the inbox consumer died %s times in a row; giving up",
                self._deaths_in_a_row,
                exc_info=exc,
                extra={"error": error},
            )
            self._set(ConsumerState.FAILED)
            self.on_give_up(error)
            return False
        delay = self._backoff.next()
        logger.error(
            "the inbox consumer thread died; restarting it in %.1fs",
            delay,
            exc_info=exc,
            extra={"error": error, "deaths_in_a_row": self._deaths_in_a_row},
        )
        self._set(ConsumerState.RESTARTING)
        if self._stopping.wait(delay):
            return False
        self._restarts += 1
        return True


class _HealthHandler(BaseHTTPRequestHandler):
    supervisor: InboxSupervisor  # set on the subclass made per server

    def do_GET(self) -> None:
        if self.path == "/healthz":
            health = self.supervisor.health()
            body = json.dumps(asdict(health)).encode()
            self._answer(200 if health.healthy else 503, "application/json", body)
        elif self.path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            self._answer(200, CONTENT_TYPE_LATEST, generate_latest())
        else:
            self._answer(404, "text/plain", b"not found\n")

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are not worth a log line each."""


def serve_health(supervisor: InboxSupervisor, port: int) -> ThreadingHTTPServer:
    """Serve /healthz and /metrics for `supervisor` on 127.0.0.1:port in a daemon thread."""
    handler = type("HealthHandler", (_HealthHandler,), {"supervisor": supervisor})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="strangler-inbox-health")
    thread.daemon = True
    thread.start()
    return server


def stop_worker_with_failure(error: str) -> None:
    """Make the worker shut down warmly and exit with status 1 (from any thread).

    Celery's own signal handlers stop a worker the same way: its loop checks this flag.
    """
    from celery.platforms import EX_FAILURE
    from celery.worker import state

    logger.critical("stopping the worker: the inbox consumer cannot run (%s)", error)
    state.should_stop = EX_FAILURE


class InboxConsumerStep(bootsteps.ConsumerStep):
    """Runs strangler.inbox's consumer loop in a supervised thread of the worker's consumer."""

    name = "strangler.inbox.consumer"

    def __init__(
        self,
        parent: Any,
        without_inbox: bool = False,
        inbox_max_restarts: int = DEFAULT_MAX_RESTARTS,
        inbox_health_port: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(parent, **kwargs)
        self.enabled = not without_inbox
        self.max_restarts = inbox_max_restarts
        self.health_port = inbox_health_port
        self.supervisor: InboxSupervisor | None = None
        self._server: ThreadingHTTPServer | None = None

    def get_consumers(self, channel: Any) -> list[Any]:
        return []  # the inbox consumes through strangler.transport, not the worker's channel

    def build_consumer(self) -> InboxConsumer:
        """The consumer to run; install_inbox_consumer(app, build_consumer=...) replaces it."""
        from strangler.bootstrap import build_consumer

        return build_consumer()

    def start(self, c: Any) -> None:
        first = None
        if self.supervisor is None:
            # The first start: check like consume_events; an error stops the worker (status 1).
            from strangler.bootstrap import check_project

            check_project()
            first = self.build_consumer()
            self.supervisor = InboxSupervisor(
                self.build_consumer,
                max_restarts=self.max_restarts,
                on_give_up=stop_worker_with_failure,
            )
            if self.health_port:
                self._server = serve_health(self.supervisor, self.health_port)
        self.supervisor.start(first)

    def stop(self, c: Any) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()

    def shutdown(self, c: Any) -> None:
        self.stop(c)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def install_inbox_consumer(
    app: Celery, *, build_consumer: Callable[[], InboxConsumer] | None = None
) -> None:
    """Add the inbox consumer step and its worker options to a Celery app.

    `build_consumer` replaces strangler.bootstrap.build_consumer (tests inject faults with it).
    """
    for option in (
        Option(
            ["--without-inbox"],
            is_flag=True,
            default=False,
            help="Do not run the strangler inbox consumer in this worker.",
        ),
        Option(
            ["--inbox-max-restarts"],
            type=int,
            default=DEFAULT_MAX_RESTARTS,
            help="Deaths in a row of the inbox consumer thread, each restarted with backoff, "
            "before the worker stops with exit status 1.",
        ),
        Option(
            ["--inbox-health-port"],
            type=int,
            default=0,
            help="Serve the inbox consumer's /healthz (200 while it consumes, else 503) and "
            "/metrics on 127.0.0.1:PORT (0: off).",
        ),
    ):
        app.user_options["worker"].add(option)
    step: type[InboxConsumerStep] = InboxConsumerStep
    if build_consumer is not None:
        step = type(
            "InboxConsumerStep",
            (InboxConsumerStep,),
            {"build_consumer": lambda self: build_consumer()},
        )
    app.steps["consumer"].add(step)
