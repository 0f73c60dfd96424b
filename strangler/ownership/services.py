"""Writes to the control database: freeze and unfreeze a context's writes, move its writer.

Each change is one transaction on the control database that locks the context's row and bumps
its epoch, so every reader can tell that something changed.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from strangler.ownership.conf import ownership_settings
from strangler.ownership.models import ContextOwnership
from strangler.ownership.selectors import ContextState, context_state, forget_cached_states

logger = logging.getLogger(__name__)


def _locked_row(context: str) -> ContextOwnership:
    """The context's row, created with the default writer if missing, locked until commit."""
    spec = ownership_settings().context(context)
    row = ContextOwnership.objects.select_for_update().filter(context=context).first()
    if row is None:
        ContextOwnership.objects.get_or_create(
            context=context,
            defaults={"writer": spec.default_writer, "updated_at": timezone.now()},
        )
        row = ContextOwnership.objects.select_for_update().get(context=context)
    return row


def _save(row: ContextOwnership, fields: list[str]) -> ContextState:
    row.epoch += 1
    row.updated_at = timezone.now()
    row.save(update_fields=[*fields, "epoch", "updated_at"])
    forget_cached_states()
    return context_state(row.context, max_age=0)


def freeze_writes(context: str, *, reason: str) -> ContextState:
    """Freeze the context's writes on every side (they answer 503 + Retry-After). Idempotent."""
    with transaction.atomic(using=ownership_settings().database):
        row = _locked_row(context)
        if row.frozen and row.frozen_reason == reason:
            return context_state(context, max_age=0)
        row.frozen, row.frozen_reason, row.frozen_at = True, reason, timezone.now()
        state = _save(row, ["frozen", "frozen_reason", "frozen_at"])
    logger.warning("writes of %s frozen: %s", context, reason)
    return state


def unfreeze_writes(context: str) -> ContextState:
    """Open the context's writes again (on its writer). Idempotent."""
    with transaction.atomic(using=ownership_settings().database):
        row = _locked_row(context)
        if not row.frozen:
            return context_state(context, max_age=0)
        row.frozen, row.frozen_reason, row.frozen_at = False, "", None
        state = _save(row, ["frozen", "frozen_reason", "frozen_at"])
    logger.warning("writes of %s unfrozen; writer %s", context, state.writer)
    return state


def set_writer(context: str, writer: str) -> ContextState:
    """Make `writer` (a side's name) the single writer of the context. Idempotent."""
    spec = ownership_settings().context(context)
    writer = spec.side(writer)
    with transaction.atomic(using=ownership_settings().database):
        row = _locked_row(context)
        if row.writer == writer:
            return context_state(context, max_age=0)
        previous, row.writer = row.writer, writer
        state = _save(row, ["writer"])
    logger.warning(
        "writer of %s moved from %s to %s (epoch %s)", context, previous, writer, state.epoch
    )
    return state
