"""Correlation, causation and trace ids carried from a request or consumed event to new events."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TraceContext:
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None


_EMPTY = TraceContext()
_current: ContextVar[TraceContext | None] = ContextVar("strangler_trace_context", default=None)


def current_trace() -> TraceContext:
    """The context of the request or event being handled right now."""
    return _current.get() or _EMPTY


@contextlib.contextmanager
def trace_context(
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    traceparent: str | None = None,
) -> Iterator[TraceContext]:
    """Make these ids current for everything recorded inside the block."""
    token = _current.set(TraceContext(correlation_id, causation_id, traceparent))
    try:
        yield current_trace()
    finally:
        _current.reset(token)
