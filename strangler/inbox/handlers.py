"""Handler kinds of the inbox registry: per-event functions (the default) and batch handlers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

BATCH_ATTRIBUTE = "inbox_batch_handler"

F = TypeVar("F", bound=Callable[..., Any])


def batch_handler(function: F) -> F:
    """Mark a handler as taking the list of envelopes of its event type instead of one envelope.

    The inbox calls it with the events of one transaction that are to be applied (duplicates and
    stale versions already dropped), in delivery order, grouped into runs of consecutive events of
    the same type, so the relative order of different event types is kept. A batch handler must
    apply them as if one by one in that order: for state transfer, the newest version of each
    aggregate in the list wins. When its batch fails, the inbox applies the messages one by one
    and calls it with one-element lists, so one bad event fails alone.
    """
    setattr(function, BATCH_ATTRIBUTE, True)
    return function


def is_batch_handler(handler: Callable[..., Any]) -> bool:
    """True for a handler marked with @batch_handler (it takes a list of envelopes)."""
    return bool(getattr(handler, BATCH_ATTRIBUTE, False))


def newest_per_key(events: Sequence[Any], key: Callable[[Any], Any]) -> list[Any]:
    """The last event of each key, in the order of those last events.

    What a batch of state-transfer events reduces to: in delivery order each snapshot replaces
    the previous one of its aggregate, so only the last one has to be written (and one
    INSERT ... ON CONFLICT may not touch the same row twice).
    """
    last: dict[Any, Any] = {}
    for event in events:
        last.pop(key(event), None)  # re-insert so the dict keeps the order of the last events
        last[key(event)] = event
    return list(last.values())
