"""Writes of the service: refused until the context is cut over to it.

Exactly one side writes a context at a time (no dual writes): the control database says which
(strangler.ownership). Until cutover the monolith is the writer and every write endpoint answers
409 (writes_owned_elsewhere); while a cutover runs, 503 (writes_frozen). The business rules of
the writes live in the monolith's services module (MONOLITH_SERVICES): port them here, each
write calling `require_writer(CONTEXT)` in its transaction and recording its events, before
cutting writes over. Until then a write on the writer answers 501 (not_ported).
"""

from __future__ import annotations

from rest_framework import status

from strangler.api import DomainError
from strangler.ownership.guard import require_writer

CONTEXT = "inventory"
MONOLITH_SERVICES = "monolith/inventory/services.py"


class WritesNotPorted(DomainError):
    """This service is the writer, but the write's business rules were not ported yet."""

    status_code = status.HTTP_501_NOT_IMPLEMENTED
    code = "not_ported"


def write_refused(operation: str) -> DomainError:
    """Why this service cannot perform `operation` (a write of the monolith's API) yet.

    Raises NotWriterError (409) or WritesFrozenError (503) while this side is not the writer.
    """
    require_writer(CONTEXT)
    return WritesNotPorted(
        f"{operation} is not ported to this service yet; port it from {MONOLITH_SERVICES}."
    )
