"""Reads of the control database: the state of a context, cached briefly per process.

The gateway and any other process decide with `context_state(context)`: who writes the context
and whether its writes are frozen.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connections, transaction

from strangler.ownership.conf import ownership_settings
from strangler.ownership.models import ContextOwnership, CutoverRun


@dataclass(frozen=True, slots=True)
class ContextState:
    """Who writes a context now; `recorded` is False while the control database has no row."""

    context: str
    writer: str
    frozen: bool
    frozen_reason: str
    frozen_at: datetime | None
    epoch: int
    recorded: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "writer": self.writer,
            "frozen": self.frozen,
            "frozen_reason": self.frozen_reason,
            "frozen_at": self.frozen_at.isoformat() if self.frozen_at else None,
            "epoch": self.epoch,
            "recorded": self.recorded,
        }


logger = logging.getLogger(__name__)

_cache: dict[str, tuple[float, ContextState]] = {}
_warned_unmigrated: set[str] = set()
_cache_lock = threading.Lock()


def context_state(context: str, *, max_age: float | None = None) -> ContextState:
    """The ownership state of a context, at most `max_age` seconds old (default CACHE_TTL).

    max_age=0 always reads the control database. Raises UnknownContext for an unlisted context.
    """
    conf = ownership_settings()
    spec = conf.context(context)
    ttl = conf.cache_ttl if max_age is None else max_age
    now = time.monotonic()
    if ttl > 0:
        with _cache_lock:
            cached = _cache.get(context)
        if cached is not None and now - cached[0] < ttl:
            return cached[1]
    row = _ownership_row(context, conf.database)
    if row is None:
        state = ContextState(context, spec.default_writer, False, "", None, 0, False)
    else:
        state = ContextState(
            context,
            row.writer,
            row.frozen,
            row.frozen_reason,
            row.frozen_at,
            row.epoch,
            True,
        )
    with _cache_lock:
        _cache[context] = (now, state)
    return state


def _ownership_row(context: str, alias: str) -> ContextOwnership | None:
    """The context's row; None also while the control database has no ownership table yet.

    No table means no cutover ever ran against this control database (a cutover writes there
    first), so the configured default writer is the truth; `migrate --database control` creates it.
    """
    connection = connections[alias]
    # Inside a transaction (tests) a failed query must not poison it: a savepoint isolates it.
    guard = transaction.atomic(using=alias) if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            return ContextOwnership.objects.filter(context=context).first()
    except DatabaseError:
        table = ContextOwnership._meta.db_table
        if table in connection.introspection.table_names():
            raise
        if context not in _warned_unmigrated:
            _warned_unmigrated.add(context)
            logger.warning(
                "the control database %r has no %s table; %s is written by its default writer. "
                "Run `manage.py migrate --database %s` before the first cutover.",
                alias,
                table,
                context,
                alias,
            )
        return None


def forget_cached_states() -> None:
    """Drop every cached state (after this process changed one, and in tests)."""
    with _cache_lock:
        _cache.clear()


def unfinished_cutover(context: str) -> CutoverRun | None:
    """The running (not completed, not aborted) cutover of a context, if there is one."""
    return CutoverRun.objects.filter(context=context, state=CutoverRun.State.RUNNING).first()


def last_cutover(context: str) -> CutoverRun | None:
    return CutoverRun.objects.filter(context=context).order_by("-id").first()
