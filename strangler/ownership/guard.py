"""The write guard: every write service of a context calls require_writer(context) first.

The side that is not the context's writer refuses with NotWriterError (HTTP 409 naming the
writer); while a cutover has the context frozen every side refuses with WritesFrozenError (HTTP
503 with Retry-After: try again shortly, nothing is wrong).

On PostgreSQL the guard also takes a shared transaction-level advisory lock on the writer's own
database, the write fence: the cutover takes the same lock exclusively after freezing, which
waits for every write transaction that passed the guard to commit or roll back, so no write can
slip in behind the drain (docs/reference/cutover.md).
"""

from __future__ import annotations

import zlib

from django.db import InterfaceError, OperationalError, connections
from rest_framework import status

from strangler.api import DomainError
from strangler.ownership.conf import this_side
from strangler.ownership.selectors import ContextState, context_state

# First key of the two-int advisory lock: "ST"(rangler) write fences, apart from other locks.
FENCE_LOCK_CLASS = 0x5354


class OwnershipError(DomainError):
    """Base class of the guard's refusals."""


class NotWriterError(OwnershipError):
    """This side is not the writer of the context: send the write to the writer."""

    code = "writes_owned_elsewhere"

    def __init__(self, context: str, writer: str, side: str) -> None:
        super().__init__(
            f"writes for {context} are owned by {writer}; {side} refuses them. Send the write "
            f"to {writer} (or cut the context over with `manage.py cutover {context}`)."
        )
        self.context = context
        self.writer = writer


class WritesFrozenError(OwnershipError):
    """Writes of the context are frozen while a cutover moves them; retry after a moment."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "writes_frozen"

    def __init__(self, context: str, reason: str, retry_after: int) -> None:
        super().__init__(
            f"writes for {context} are frozen for a moment ({reason or 'cutover'}); "
            f"retry in {retry_after}s."
        )
        self.context = context
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        # X-Strangler-Intended: the gateway counts this 503 as an answer, not a failing backend.
        return {"Retry-After": str(self.retry_after), "X-Strangler-Intended": "1"}


class WriterDatabaseUnavailable(OwnershipError):
    """The database went away while the guard checked a write (nothing was written)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "database_unavailable"
    retry_after = 1

    def __init__(self, context: str) -> None:
        super().__init__(
            f"the database did not answer while checking a write for {context}; nothing was "
            f"written, retry in {self.retry_after}s."
        )
        self.context = context

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def fence_key(context: str) -> tuple[int, int]:
    """The (class, object) advisory lock key of a context's write fence; a signed int4 pair."""
    crc = zlib.crc32(context.encode())
    return FENCE_LOCK_CLASS, crc - (1 << 32) if crc >= 1 << 31 else crc


def require_writer(context: str, *, using: str = "default") -> ContextState:
    """Refuse unless this side writes `context` and its writes are open; returns the state.

    Call it at the top of every write service of the context, inside its transaction.
    """
    from strangler.ownership.conf import ownership_settings

    connection = connections[using]
    try:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", fence_key(context))
        state = context_state(context)
    except (OperationalError, InterfaceError) as exc:
        # A lost connection (the server terminated the backend, a failover): the transaction
        # rolls back; the client is told to retry, not that the server broke (503, not 500).
        raise WriterDatabaseUnavailable(context) from exc
    if state.frozen:
        raise WritesFrozenError(context, state.frozen_reason, ownership_settings().retry_after)
    side = this_side()
    if state.writer != side:
        raise NotWriterError(context, state.writer, side)
    return state
