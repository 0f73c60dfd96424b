"""Retention of the event log: delete published rows past a cutoff, in bounded chunks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from strangler.outbox.models import OutboxEvent


def _prunable(older_than_days: int) -> QuerySet[OutboxEvent]:
    cutoff = timezone.now() - timedelta(days=older_than_days)
    # published_at set and old: pending rows (published_at NULL) can never match. published_at
    # has no index (each one costs the relay a write per published row, ADR 0013): the chunks
    # walk the primary key from the oldest row, where old published rows are.
    return OutboxEvent.objects.filter(published_at__isnull=False, published_at__lt=cutoff)


def count_prunable_events(*, older_than_days: int) -> int:
    """How many published rows are older than the cutoff."""
    return _prunable(older_than_days).count()


def prune_published_events(
    *,
    older_than_days: int,
    chunk_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Delete published rows older than the cutoff, chunk by chunk; returns how many."""
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                _prunable(older_than_days).order_by("id").values_list("id", flat=True)[:chunk_size]
            )
            if not ids:
                return deleted
            deleted += OutboxEvent.objects.filter(id__in=ids).delete()[0]
        if on_progress is not None:
            on_progress(deleted)
