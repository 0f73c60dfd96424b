"""Saga writes: start one with its deadline, end it once, and give up on the overdue ones.

The kit keeps the state; the orchestrating context keeps the meaning (what a step does, how an
answer is applied, what the compensation is). Every function runs in the caller's transaction,
next to the domain write it belongs to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from strangler.sagas.conf import saga_settings
from strangler.sagas.models import Saga, SagaState

logger = logging.getLogger(__name__)

TIMED_OUT = "timed_out"


class SagaUsageError(RuntimeError):
    """A saga function was called where it cannot keep its promise (outside a transaction)."""


def _require_transaction(what: str) -> None:
    if not connection.in_atomic_block:
        raise SagaUsageError(
            f"{what} must run inside transaction.atomic(), with the write it belongs to."
        )


def saga_start(*, saga_type: str, key: str | int, step: str) -> Saga:
    """Record a saga waiting at `step`, its deadline `timeout` seconds from now (STRANGLER_SAGAS).

    Call it in the transaction that makes the write the saga starts from, so that either both
    exist or neither does.
    """
    _require_transaction("saga_start")
    kind = saga_settings().type(saga_type)
    now = timezone.now()
    return Saga.objects.create(
        saga_type=saga_type,
        key=str(key),
        context=kind.context,
        step=step,
        deadline=now + timedelta(seconds=kind.timeout),
        created_at=now,
    )


def saga_lock(*, saga_type: str, key: str | int) -> Saga | None:
    """The saga of (type, key), row-locked until the transaction ends; None when there is none."""
    _require_transaction("saga_lock")
    return Saga.objects.select_for_update().filter(saga_type=saga_type, key=str(key)).first()


def saga_end(
    *, saga_type: str, key: str | int, outcome: str, compensated: bool, detail: str = ""
) -> Saga | None:
    """End a waiting saga with `outcome`; returns it, or None when there is none waiting.

    None is how an orchestrator tells a replayed or late answer: the saga already ended (by an
    earlier copy of the answer, a cancellation or the timeout), so the answer changes nothing.
    """
    saga = saga_lock(saga_type=saga_type, key=key)
    if saga is None or saga.state != SagaState.WAITING:
        return None
    saga.state = SagaState.COMPENSATED if compensated else SagaState.COMPLETED
    saga.outcome = outcome
    saga.detail = detail
    saga.finished_at = timezone.now()
    saga.save(update_fields=["state", "outcome", "detail", "finished_at"])
    logger.info(
        "saga ended",
        extra={"saga_type": saga_type, "saga_key": saga.key, "outcome": outcome},
    )
    return saga


@dataclass(frozen=True)
class ExpiredSaga:
    saga_type: str
    key: str
    deadline: datetime


def expire_sagas(*, now: datetime | None = None) -> list[ExpiredSaga]:
    """Give up on every waiting saga past its deadline: end it as timed out, then run its type's
    `on_timeout` (the compensation) in the same transaction.

    Each saga ends in a transaction of its own, the row locked with SKIP LOCKED on PostgreSQL so
    two sweeps (or a sweep and a late answer being applied) never end one saga twice; an answer
    that arrives afterwards finds it ended. Returns the sagas this call ended.
    """
    conf = saga_settings()
    now = now or timezone.now()
    expired: list[ExpiredSaga] = []
    while True:
        batch = _expire_batch(now, conf.expire_batch_size)
        expired.extend(batch)
        if len(batch) < conf.expire_batch_size:
            return expired


def _expire_batch(now: datetime, size: int) -> list[ExpiredSaga]:
    conf = saga_settings()
    done: list[ExpiredSaga] = []
    due = list(
        Saga.objects.filter(state=SagaState.WAITING, deadline__lte=now)
        .order_by("deadline", "id")
        .values_list("id", flat=True)[:size]
    )
    for saga_id in due:
        with transaction.atomic():
            locked = Saga.objects.select_for_update(
                skip_locked=connection.features.has_select_for_update_skip_locked
            ).filter(pk=saga_id, state=SagaState.WAITING, deadline__lte=now)
            saga = locked.first()
            if saga is None:  # answered, cancelled or expired by someone else meanwhile
                continue
            # Ended first, so the compensation sees it ended (and cannot end it otherwise).
            saga_end(
                saga_type=saga.saga_type,
                key=saga.key,
                outcome=TIMED_OUT,
                compensated=True,
                detail=f"no answer from {saga.context} by {saga.deadline.isoformat()}",
            )
            conf.type(saga.saga_type).on_timeout()(saga)
            done.append(ExpiredSaga(saga.saga_type, saga.key, saga.deadline))
            logger.warning(
                "saga timed out",
                extra={"saga_type": saga.saga_type, "saga_key": saga.key, "step": saga.step},
            )
    return done
