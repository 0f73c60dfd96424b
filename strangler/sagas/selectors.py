"""Saga reads: what migration_status shows of the sagas that wait for a context."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from strangler.sagas.models import Saga, SagaState


def sagas_status(context: str) -> dict[str, Any]:
    """Sagas waiting for `context`'s answer: how many, how many overdue, the oldest; and how
    the ended ones ended ({outcome: count})."""
    now = timezone.now()
    sagas = Saga.objects.filter(context=context)
    waiting = sagas.filter(state=SagaState.WAITING).aggregate(
        count=Count("id"),
        overdue=Count("id", filter=Q(deadline__lte=now)),
        oldest=Min("created_at"),
    )
    ended = (
        sagas.exclude(state=SagaState.WAITING)
        .values("outcome")
        .annotate(count=Count("id"))
        .order_by("outcome")
    )
    oldest = waiting["oldest"]
    return {
        "in_flight": waiting["count"],
        "overdue": waiting["overdue"],
        "oldest_seconds": None if oldest is None else (now - oldest).total_seconds(),
        "ended": {row["outcome"]: row["count"] for row in ended},
    }


def render_sagas(status: dict[str, Any]) -> list[str]:
    """migration_status's lines for the sagas of one context."""
    oldest = status["oldest_seconds"]
    ended = ", ".join(f"{name} {count}" for name, count in status["ended"].items()) or "none"
    waiting = f"{status['in_flight']} in flight, {status['overdue']} overdue"
    if oldest is not None:
        waiting += f", oldest {oldest:.1f}s"
    return [f"  sagas waiting for it: {waiting}; ended: {ended}"]
