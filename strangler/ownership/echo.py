"""Echo prevention on the consuming side: a side never applies the events it published itself.

Each side's queue is bound to every event of a context (`catalog.#`), so the writer receives its
own events back. Applying them would at best redo a write and at worst overwrite a newer row with
an older snapshot; `foreign_events_only` wraps a handler registry so that an event whose source
is this side is recorded by the inbox (its version bookkeeping stays exact) but changes nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import Counter

from strangler.inbox.handlers import batch_handler, is_batch_handler
from strangler.ownership.conf import this_side

logger = logging.getLogger(__name__)

OWN_EVENTS_SKIPPED = Counter(
    "strangler_inbox_own_events_skipped",
    "Events this side consumed that it had published itself, skipped by the handler wrapper.",
    ["type"],
)


def foreign_events_only(
    handlers: Mapping[str, Callable[..., Any]],
) -> dict[str, Callable[..., Any]]:
    """The same registry, each handler skipping events whose source is this side."""
    return {event_type: _skip_own(handler) for event_type, handler in handlers.items()}


def _skip_own(handler: Callable[..., Any]) -> Callable[..., Any]:
    if is_batch_handler(handler):
        return _skip_own_in_batches(handler)

    @functools.wraps(handler)
    def apply_foreign(event: Any) -> None:
        if event.source == this_side():
            OWN_EVENTS_SKIPPED.labels(event.type).inc()
            logger.debug("skipped own event %s %s", event.type, event.id)
            return None
        return handler(event)

    return apply_foreign


def _skip_own_in_batches(handler: Callable[..., Any]) -> Callable[..., Any]:
    @batch_handler
    @functools.wraps(handler)
    def apply_foreign(events: list[Any]) -> None:
        side = this_side()
        foreign = []
        for event in events:
            if event.source == side:
                OWN_EVENTS_SKIPPED.labels(event.type).inc()
                logger.debug("skipped own event %s %s", event.type, event.id)
            else:
                foreign.append(event)
        if foreign:
            handler(foreign)

    return apply_foreign
