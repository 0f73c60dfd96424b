"""Reconcile: prove two stores agree by comparing a tree of key-range checksums.

The key space is split into FANOUT ranges; each side returns count + checksum per range (computed
by its database); only ranges that differ are split again, and a differing range small enough
(LEAF_ROWS) is fetched from both sides and diffed field by field. Every row is hashed once at the
first level; what is read beyond that, and every row fetched, grows with the drift, not the table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strangler.observability import tracing
from strangler.sync.checksums import Bounds, Segment
from strangler.sync.conf import AggregateSpec
from strangler.sync.peers import SyncPeer

logger = logging.getLogger(__name__)

T = TypeVar("T")
ROWS_PER_FETCH = 200  # leaf ranges asked for in one rows request


class ReconcileError(RuntimeError):
    """The two sides cannot be compared (different field signatures, non-integer keys...)."""


@dataclass
class FieldDifference:
    """One differing aggregate and its fields: {field: [source value, target value]}."""

    id: int
    fields: dict[str, list[str | None]]


@dataclass
class AggregateReport:
    """What reconcile found for one aggregate, and what it cost."""

    aggregate: str
    source_count: int = 0
    target_count: int = 0
    missing: list[int] = field(default_factory=list)  # on the source, not on the target
    extra: list[int] = field(default_factory=list)  # on the target, not on the source
    different: list[FieldDifference] = field(default_factory=list)
    rows_hashed: int = 0  # by both sides together
    rows_fetched: int = 0  # rows sent by both sides for field-by-field diffing
    ranges_compared: int = 0
    levels: int = 0
    seconds: float = 0.0

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.different)

    def as_dict(self) -> dict[str, Any]:
        return {
            "aggregate": self.aggregate,
            "equal": self.drift == 0,
            "source_count": self.source_count,
            "target_count": self.target_count,
            "missing": self.missing,
            "extra": self.extra,
            "different": [{"id": d.id, "fields": d.fields} for d in self.different],
            "rows_hashed": self.rows_hashed,
            "rows_fetched": self.rows_fetched,
            "ranges_compared": self.ranges_compared,
            "levels": self.levels,
            "seconds": round(self.seconds, 3),
        }


def _both(source: SyncPeer, target: SyncPeer, call: Callable[[SyncPeer], T]) -> tuple[T, T]:
    """Ask both sides at once: a peer that must stay on this thread (a local database connection
    may hold the caller's transaction) runs here while the other works on a pool thread."""
    if not (source.concurrent or target.concurrent):
        return call(source), call(target)
    with ThreadPoolExecutor(max_workers=1) as pool:
        if target.concurrent:
            right = pool.submit(call, target)
            left_value = call(source)
            return left_value, right.result()
        left = pool.submit(call, source)
        right_value = call(target)
        return left.result(), right_value


@tracing.traced("strangler.reconcile", lambda spec, **_: {"strangler.aggregate": spec.name})
def reconcile_aggregate(
    spec: AggregateSpec,
    *,
    source: SyncPeer,
    target: SyncPeer,
    fanout: int = 16,
    leaf_rows: int = 64,
    on_level: Callable[[AggregateReport, int], None] | None = None,
) -> AggregateReport:
    """Compare one aggregate on two sides and return every missing, extra and different id."""
    started = time.monotonic()
    report = AggregateReport(spec.label)
    bounds_source, bounds_target = _both(source, target, lambda peer: peer.describe(spec))
    _check_comparable(spec, bounds_source, bounds_target, source, target)
    report.source_count, report.target_count = bounds_source.count, bounds_target.count
    keys = [b for b in (bounds_source, bounds_target) if b.count]
    if not keys:
        report.seconds = time.monotonic() - started
        return report
    lo = min(int(b.min_key) for b in keys)  # type: ignore[arg-type]
    hi = max(int(b.max_key) for b in keys) + 1  # type: ignore[arg-type]
    segments = [Segment(lo, hi, fanout)]
    leaves: list[tuple[int, int]] = []
    while segments:
        report.levels += 1
        (sums_source, hashed_source), (sums_target, hashed_target) = _both(
            source, target, lambda peer, s=segments: peer.checksums(spec, s)
        )
        report.rows_hashed += hashed_source + hashed_target
        next_segments: list[Segment] = []
        for segment, left, right in zip(segments, sums_source, sums_target, strict=True):
            for (b_lo, b_hi), a, b in zip(segment.buckets(), left, right, strict=True):
                report.ranges_compared += 1
                if a == b:
                    continue
                if max(a.count, b.count) <= leaf_rows or b_hi - b_lo <= fanout:
                    leaves.append((b_lo, b_hi))
                else:
                    next_segments.append(Segment(b_lo, b_hi, fanout))
        if on_level is not None:
            on_level(report, len(next_segments) + len(leaves))
        segments = next_segments
    _diff_leaves(spec, source, target, leaves, report)
    report.seconds = time.monotonic() - started
    logger.info(
        "reconciled %s: %s drift, %s rows hashed, %s fetched in %.2fs",
        spec.label,
        report.drift,
        report.rows_hashed,
        report.rows_fetched,
        report.seconds,
    )
    return report


def _check_comparable(
    spec: AggregateSpec, left: Bounds, right: Bounds, source: SyncPeer, target: SyncPeer
) -> None:
    if left.signature != right.signature:
        raise ReconcileError(
            f"{spec.label}: the two sides compare different fields; make the 'fields' of "
            f"STRANGLER_SYNC equal on both.\n  {source.name}: {left.signature}\n"
            f"  {target.name}: {right.signature}"
        )
    for bounds in (left, right):
        for key in (bounds.min_key, bounds.max_key):
            if key is not None and not isinstance(key, int):
                raise ReconcileError(f"{spec.label}: reconcile needs integer keys, got {key!r}")


def _diff_leaves(
    spec: AggregateSpec,
    source: SyncPeer,
    target: SyncPeer,
    leaves: Sequence[tuple[int, int]],
    report: AggregateReport,
) -> None:
    for start in range(0, len(leaves), ROWS_PER_FETCH):
        chunk = leaves[start : start + ROWS_PER_FETCH]
        left, right = _both(source, target, lambda peer, c=chunk: peer.rows(spec, c))
        report.rows_fetched += len(left) + len(right)
        for key in sorted(left.keys() | right.keys()):
            if key not in right:
                report.missing.append(key)
            elif key not in left:
                report.extra.append(key)
            elif left[key] != right[key]:
                fields = {
                    name: [left[key].get(name), right[key].get(name)]
                    for name in sorted(left[key].keys() | right[key].keys())
                    if left[key].get(name) != right[key].get(name)
                }
                report.different.append(FieldDifference(key, fields))


def repair_drift(spec: AggregateSpec, report: AggregateReport) -> dict[str, int]:
    """On the writer: re-record snapshots of missing and different ids, deletions of extra ids.

    The events travel the normal path (outbox, relay, each subscriber's inbox), so a reader
    applies them like any other; snapshots carry a fresh aggregate version, so they win.
    """
    from django.db import transaction

    from strangler.outbox import record_event
    from strangler.sync.backfill import backfill_ids

    to_snapshot = sorted({*report.missing, *(d.id for d in report.different)})
    snapshots = backfill_ids(spec, to_snapshot) if to_snapshot else 0
    build = spec.deleted_payload()
    model = spec.model
    still_there = set(model._base_manager.filter(pk__in=report.extra).values_list("pk", flat=True))
    deletions = 0
    with transaction.atomic():
        for key in report.extra:
            if key in still_there:
                continue  # written since the comparison: the snapshot path covers it
            record_event(spec.deleted_event, subject=key, data=build(key))
            deletions += 1
    return {"snapshots": snapshots, "deletions": deletions}


def reconcile_result_record(
    spec: AggregateSpec,
    report: AggregateReport,
    *,
    source: str,
    target: str,
    repaired: Mapping[str, int] | None = None,
) -> None:
    """Keep what a reconcile found, for the dashboard (one row per run and aggregate)."""
    from django.utils import timezone

    from strangler.sync.models import ReconcileResult

    ReconcileResult.objects.create(
        context=spec.context,
        aggregate=spec.name,
        source=source,
        target=target,
        drift=report.drift,
        missing=len(report.missing),
        extra=len(report.extra),
        different=len(report.different),
        source_count=report.source_count,
        target_count=report.target_count,
        rows_hashed=report.rows_hashed,
        seconds=round(report.seconds, 3),
        repaired=dict(repaired or {}),
        finished_at=timezone.now(),
    )
