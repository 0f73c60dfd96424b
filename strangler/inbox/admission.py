"""What an inbox refuses before anything is applied: oversized messages, a subject that is not
the data's id, and an event from a source that may never write its context.

Each refusal is dead-lettered at once with its reason (the x-strangler-reason header); nothing the
message carried is applied and no projection version moves.
"""

from __future__ import annotations

from strangler.contracts.envelope import Envelope
from strangler.ownership.conf import ownership_settings


class MessageRefused(RuntimeError):
    """The message can never be applied; `reason` is its dead-letter reason."""

    reason = "refused"


class MessageTooLarge(MessageRefused):
    reason = "too_large"


class SubjectMismatch(MessageRefused):
    reason = "subject_mismatch"


class SourceNotAllowed(MessageRefused):
    reason = "source_not_allowed"


def check_size(body: bytes | str, limit: int) -> None:
    """Refuse a body over `limit` bytes before it is parsed."""
    size = len(body.encode() if isinstance(body, str) else body)
    if size > limit:
        raise MessageTooLarge(
            f"the message is {size} bytes, over STRANGLER_INBOX['MAX_MESSAGE_BYTES']={limit}"
        )


def check_subject(envelope: Envelope, *, state_transfer: bool) -> None:
    """A state-transfer event's subject is its aggregate's id: the data's `id` must match it."""
    if not state_transfer or not isinstance(envelope.data, dict) or "id" not in envelope.data:
        return
    if str(envelope.data["id"]) != str(envelope.subject):
        raise SubjectMismatch(
            f"subject {envelope.subject!r} differs from the data's id {envelope.data['id']!r}"
        )


def check_source(envelope: Envelope) -> None:
    """An event of a context listed in STRANGLER_OWNERSHIP comes from one of its two possible
    writers (the monolith or the context's service), whichever writes it now.

    Not the current writer alone: events the previous writer recorded before a cutover are still
    in flight during the drain, and a replay re-sends old events with their original source.
    The broker's per-side users keep a side from publishing as another (ADR 0009).
    """
    context = envelope.type.split(".", 1)[0]
    spec = ownership_settings().contexts.get(context)
    if spec is None or envelope.source in spec.sides:
        return
    raise SourceNotAllowed(
        f"source {envelope.source!r} may not write context {context!r}; its writers are "
        f"{', '.join(spec.sides)}"
    )
