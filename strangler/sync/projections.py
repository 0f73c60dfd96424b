"""Rebuilding a projection from zero: empty it and its inbox bookkeeping, then ask for a replay."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from strangler.sync.conf import AggregateSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResetResult:
    """What reset_projection deleted."""

    projection: str
    rows: int
    versions: int
    inbox_records: int

    def as_dict(self) -> dict[str, object]:
        return {
            "projection": self.projection,
            "rows": self.rows,
            "versions": self.versions,
            "inbox_records": self.inbox_records,
        }


@transaction.atomic
def reset_projection(spec: AggregateSpec, *, subscriber: str) -> ResetResult:
    """Delete the projection's rows, its ProjectionVersion rows (tombstones included) and the
    subscriber's inbox records of the aggregate's events, in one transaction.

    Afterwards a replay of the aggregate's events applies every one again: nothing is left that
    would make the inbox skip them as duplicates or stale.
    """
    from strangler.inbox.models import InboxRecord, ProjectionVersion
    from strangler.outbox.services import outbox_capture_suppressed

    # The kit's own write, like a handler's: it publishes nothing and the bypass guard ignores it.
    with outbox_capture_suppressed():
        rows, _ = spec.model._base_manager.all().delete()
    versions, _ = ProjectionVersion.objects.filter(projection=spec.projection).delete()
    records, _ = InboxRecord.objects.filter(
        subscriber=subscriber, type__startswith=f"{spec.label}."
    ).delete()
    logger.warning(
        "projection %s reset: %s rows, %s versions, %s inbox records deleted",
        spec.projection,
        rows,
        versions,
        records,
    )
    return ResetResult(spec.projection, rows, versions, records)
