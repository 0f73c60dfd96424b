"""What one side knows about a context, read from its own database.

The cutover and migration_status ask both sides the same questions: through these functions for
the side they run on, through /internal/cutover/ (strangler.cutover.views) for the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from strangler.inbox.models import InboxRecord, ProjectionVersion
from strangler.outbox.models import AggregateVersion, OutboxEvent
from strangler.ownership.conf import this_side
from strangler.sync.conf import AggregateSpec, sync_settings

# {aggregate type: {aggregate id: version}}
VersionMap = dict[str, dict[str, int]]


@dataclass
class SideState:
    """One side's view of a context: its outbox backlog, inbox progress and ids."""

    name: str
    outbox_pending: int = 0
    outbox_oldest_pending_seconds: float | None = None
    inbox_last_applied_at: str | None = None
    inbox_lag_seconds: float | None = None  # newest applied event: applied_at - event time
    counts: dict[str, int] = field(default_factory=dict)
    max_ids: dict[str, int | None] = field(default_factory=dict)
    sequence_last: dict[str, int | None] = field(default_factory=dict)
    dead_letters: int | None = None  # depth of this side's dead-letter queue, when asked
    dead_letters_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SideState:
        """The state another side sent; a KeyError names a missing field."""
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})

    def highest_id(self, label: str) -> int:
        """The largest id this side ever issued or holds for an aggregate (0 if none)."""
        return max(self.max_ids.get(label) or 0, self.sequence_last.get(label) or 0)


def context_specs(context: str) -> list[AggregateSpec]:
    """The context's aggregates, as STRANGLER_SYNC lists them (raises UnknownAggregate)."""
    return sync_settings().resolve(context)


def side_state(context: str, *, dead_letters: bool = False) -> SideState:
    """This side's outbox backlog, inbox progress, row counts and highest ids for the context.

    With dead_letters=True also the depth of its inbox's dead-letter queue (asks the broker).
    """
    specs = context_specs(context)
    labels = [spec.label for spec in specs]
    now = timezone.now()
    pending = OutboxEvent.objects.filter(published_at__isnull=True, aggregate_type__in=labels)
    backlog = pending.aggregate(count=Count("id"), oldest=Min("created_at"))
    state = SideState(name=this_side(), outbox_pending=backlog["count"])
    if backlog["oldest"] is not None:
        state.outbox_oldest_pending_seconds = round((now - backlog["oldest"]).total_seconds(), 3)
    newest = (
        InboxRecord.objects.filter(
            type__in=[t for spec in specs for t in (spec.event, spec.deleted_event)]
        )
        .order_by("-applied_at")
        .values("applied_at", "event_time")
        .first()
    )
    if newest is not None:
        state.inbox_last_applied_at = newest["applied_at"].isoformat()
        if newest["event_time"] is not None:
            lag = (newest["applied_at"] - newest["event_time"]).total_seconds()
            state.inbox_lag_seconds = round(max(0.0, lag), 3)
    for spec in specs:
        model = spec.model
        pk = model._meta.pk.attname
        found = model._base_manager.aggregate(count=Count(pk), high=Max(pk))
        state.counts[spec.label] = found["count"]
        state.max_ids[spec.label] = found["high"]
        state.sequence_last[spec.label] = sequence_last_value(model._meta.db_table, model)
    if dead_letters:
        state.dead_letters, state.dead_letters_error = dead_letter_depth()
    return state


def dead_letter_depth() -> tuple[int | None, str]:
    """(depth of this side's inbox dead-letter queue, error text when the broker cannot say)."""
    from strangler.sync.dead_letters import (
        DeadLetterError,
        consumer_subscription,
        dead_letter_count,
    )
    from strangler.transport import get_transport

    try:
        subscription = consumer_subscription()
        transport = get_transport()
    except DeadLetterError as exc:
        return None, str(exc)
    try:
        return dead_letter_count(transport, subscription), ""
    except DeadLetterError as exc:
        return None, str(exc)
    finally:
        transport.close()


def sequence_last_value(table: str, model: Any) -> int | None:
    """The last id the table's id sequence handed out (None when it never did)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, model._meta.pk.column])
            (sequence,) = cursor.fetchone()
            if sequence is None:
                return None
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            last_value, is_called = cursor.fetchone()
            return int(last_value) if is_called else None
        if connection.vendor == "sqlite":
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            return int(row[0]) if row else None
    return None


def issued_versions(context: str) -> VersionMap:
    """The last aggregate version this side handed out, per aggregate of the context."""
    result: VersionMap = {}
    for spec in context_specs(context):
        rows = AggregateVersion.objects.filter(aggregate_type=spec.label).values_list(
            "aggregate_id", "version"
        )
        result[spec.label] = {key: int(version) for key, version in rows.iterator(chunk_size=5000)}
    return result


def applied_versions(context: str, ids: Mapping[str, Iterable[str]] | None = None) -> VersionMap:
    """Per aggregate, the newest version this side has: applied from the other side's events
    (ProjectionVersion) or issued itself (AggregateVersion), whichever is higher.

    With `ids` only those aggregates are read (the drain asks again for the ones still behind).
    """
    result: VersionMap = {}
    for spec in context_specs(context):
        wanted = None if ids is None else list(ids.get(spec.label, ()))
        if wanted is not None and not wanted:
            result[spec.label] = {}
            continue
        found: dict[str, int] = {}
        projected = ProjectionVersion.objects.filter(projection=spec.projection)
        issued = AggregateVersion.objects.filter(aggregate_type=spec.label)
        if wanted is not None:
            projected = projected.filter(aggregate_id__in=wanted)
            issued = issued.filter(aggregate_id__in=wanted)
        for query in (projected, issued):
            for key, version in query.values_list("aggregate_id", "version").iterator(
                chunk_size=5000
            ):
                if int(version) > found.get(key, 0):
                    found[key] = int(version)
        result[spec.label] = found
    return result


def versions_behind(issued: VersionMap, applied: VersionMap) -> VersionMap:
    """The aggregates whose issued version the other side has not reached yet."""
    return {
        label: {
            key: version
            for key, version in versions.items()
            if applied.get(label, {}).get(key, 0) < version
        }
        for label, versions in issued.items()
    }
