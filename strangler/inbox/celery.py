"""The inbox consumer as a Celery worker consumer step, for teams that run Celery workers.

Usage, in the service's Celery module::

    app = Celery("catalog-service")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    install_inbox_consumer(app)

`celery -A extracted.catalog.config worker` then consumes the STRANGLER_INBOX queue in a thread
next to the task pool, with the same code, batching and guarantees as `manage.py consume_events`.
The step starts and stops with the worker's consumer (so also around broker reconnects);
`--without-inbox` turns it off for workers that should only run tasks.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, bootsteps
from click import Option

logger = logging.getLogger(__name__)

JOIN_TIMEOUT = 60.0


class InboxConsumerStep(bootsteps.ConsumerStep):
    """Runs strangler.inbox's consumer loop in a thread of the worker's consumer blueprint."""

    name = "strangler.inbox.consumer"

    def __init__(self, parent: Any, without_inbox: bool = False, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.enabled = not without_inbox
        self._consumer: Any = None
        self._thread: threading.Thread | None = None

    def get_consumers(self, channel: Any) -> list[Any]:
        return []  # the inbox consumes through strangler.transport, not the worker's channel

    def start(self, c: Any) -> None:
        from strangler.inbox.conf import inbox_settings
        from strangler.inbox.consumer import InboxConsumer
        from strangler.transport import get_transport

        self._consumer = InboxConsumer(transport_factory=get_transport, settings=inbox_settings())
        self._thread = threading.Thread(
            target=self._run, name="strangler-inbox-consumer", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        from django.db import connections

        try:
            self._consumer.run()
        except Exception:
            logger.exception("the inbox consumer step stopped on an error")
        finally:
            connections.close_all()

    def stop(self, c: Any) -> None:
        """Finish the batch in flight, then return (the worker waits for it)."""
        if self._consumer is not None:
            self._consumer.stop()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)
            if self._thread.is_alive():
                logger.error("the inbox consumer did not stop within %ss", JOIN_TIMEOUT)
        self._consumer = self._thread = None

    def shutdown(self, c: Any) -> None:
        self.stop(c)


def install_inbox_consumer(app: Celery) -> None:
    """Add the inbox consumer step (and the worker's --without-inbox flag) to a Celery app."""
    app.user_options["worker"].add(
        Option(
            ["--without-inbox"],
            is_flag=True,
            default=False,
            help="Do not run the strangler inbox consumer in this worker.",
        )
    )
    app.steps["consumer"].add(InboxConsumerStep)
