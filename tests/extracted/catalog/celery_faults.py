"""The catalog service's Celery app with one injected fault: while the file named by
INBOX_FAULT_FILE exists, the inbox consumer thread dies as soon as it starts.

`celery -A tests.extracted.catalog.celery_faults:app worker` is the real worker and step; only
the consumer's transport factory is wrapped, through install_inbox_consumer's build_consumer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from celery import Celery

from strangler.bootstrap import build_consumer
from strangler.inbox.celery import install_inbox_consumer

if TYPE_CHECKING:  # models load only once the worker has set Django up
    from strangler.inbox.consumer import InboxConsumer
    from strangler.transport.base import Transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "extracted.catalog.config.settings")


class InjectedFault(RuntimeError):
    """Neither a broker nor a database error: the consumer loop does not handle it."""


def consumer_failing_while_flagged() -> InboxConsumer:
    consumer = build_consumer()
    flag = Path(os.environ["INBOX_FAULT_FILE"])
    connect = consumer.transport_factory

    def transport() -> Transport:
        if flag.exists():
            raise InjectedFault(f"injected: {flag} exists")
        return connect()

    consumer.transport_factory = transport
    return consumer


app = Celery("catalog-service")
app.config_from_object("django.conf:settings", namespace="CELERY")
install_inbox_consumer(app, build_consumer=consumer_failing_while_flagged)
