"""The canonical form of a row and the reconcile tree walk, as pure logic."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from strangler.sync.canonical import (
    CanonicalValueError,
    canonical_text,
    render_row,
    render_value,
    row_hash,
)
from strangler.sync.checksums import Bounds, RangeSum, Segment
from strangler.sync.conf import AggregateSpec, SyncConfigurationError, parse_aggregate
from strangler.sync.peers import SyncPeer
from strangler.sync.reconcile import reconcile_aggregate

SPEC = parse_aggregate(
    "shop", "item", {"model": "catalog.Product", "fields": {"name": "text", "price": "money"}}
)


def test_values_render_as_the_snapshot_payload_does():
    assert render_value("money", Decimal("12.5")) == "12.50"
    assert render_value("money", "3.00") == "3.00"
    assert render_value("bool", True) == "true"
    assert render_value("int", 7) == "7"
    assert render_value("text", None) is None
    moment = datetime(2026, 1, 2, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    assert render_value("timestamp", moment) == "2026-01-02T02:05:06.000007Z"
    assert render_value("timestamp", "2026-01-02T02:05:06.000007Z") == "2026-01-02T02:05:06.000007Z"


def test_a_value_of_the_wrong_kind_is_refused():
    with pytest.raises(CanonicalValueError):
        render_value("money", "cheap")


def test_length_prefixes_keep_values_from_running_into_each_other():
    text = ["text", "text"]
    assert canonical_text(1, ["ab", "c"], text) != canonical_text(1, ["a", "bc"], text)
    assert canonical_text(1, [None], ["text"]) != canonical_text(1, ["~"], ["text"])
    assert canonical_text(1, ["x|"], ["text"]) == "1|2:x|"
    assert canonical_text(7, ["1.00", "true", None], ["money", "bool", "int"]) == "7|1.00|true|~"


def test_row_hash_is_a_signed_64_bit_integer():
    value = row_hash(canonical_text(42, render_row(["text"], ["hello"]), ["text"]))
    assert -(2**63) <= value < 2**63
    assert value == row_hash("42|5:hello")


def test_segment_buckets_cover_the_range_without_overlap():
    buckets = Segment(10, 1000, 16).buckets()
    assert buckets[0][0] == 10 and buckets[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(buckets))
    assert Segment(0, 3, 16).buckets() == [(0, 1), (1, 2), (2, 3)]


def test_unknown_field_kinds_are_a_configuration_error():
    with pytest.raises(SyncConfigurationError, match="unknown field kind"):
        parse_aggregate("shop", "item", {"model": "x.Y", "fields": {"name": "string"}})


class MemoryPeer(SyncPeer):
    """A side held in a dict, hashing in Python exactly as the real selectors do."""

    def __init__(self, name: str, rows: dict[int, tuple[str, str]]) -> None:
        self.name = name
        self.data = rows
        self.rows_sent = 0

    def describe(self, spec: AggregateSpec) -> Bounds:
        keys = self.data.keys()
        return Bounds(spec.signature, len(keys), min(keys, default=None), max(keys, default=None))

    def checksums(
        self, spec: AggregateSpec, segments: Sequence[Segment]
    ) -> tuple[list[list[RangeSum]], int]:
        kinds = [kind for _, kind in spec.fields]
        result, hashed = [], 0
        for segment in segments:
            sums = []
            for lo, hi in segment.buckets():
                keys = [k for k in self.data if lo <= k < hi]
                hashed += len(keys)
                total = sum(
                    row_hash(canonical_text(k, render_row(kinds, self.data[k]), kinds))
                    for k in keys
                )
                sums.append(RangeSum(len(keys), total))
            result.append(sums)
        return result, hashed

    def rows(self, spec: AggregateSpec, ranges: Sequence[tuple[int, int]]):  # type: ignore[no-untyped-def]
        kinds = [kind for _, kind in spec.fields]
        names = [name for name, _ in spec.fields]
        found = {
            k: dict(zip(names, render_row(kinds, v), strict=True))
            for k, v in self.data.items()
            if any(lo <= k < hi for lo, hi in ranges)
        }
        self.rows_sent += len(found)
        return found


def test_the_tree_walk_finds_exactly_the_drift_and_fetches_little():
    rows = {k: (f"item {k}", f"{k % 97}.50") for k in range(1, 20_001)}
    source = MemoryPeer("source", rows)
    drifted = dict(rows)
    del drifted[17], drifted[15_000]
    drifted[9_999] = ("renamed", drifted[9_999][1])
    drifted[25_000] = ("new", "1.00")
    target = MemoryPeer("target", drifted)

    report = reconcile_aggregate(SPEC, source=source, target=target, fanout=16, leaf_rows=32)

    assert report.missing == [17, 15_000]
    assert report.extra == [25_000]
    assert [(d.id, d.fields) for d in report.different] == [
        (9_999, {"name": ["item 9999", "renamed"]})
    ]
    assert report.rows_fetched == source.rows_sent + target.rows_sent
    assert report.rows_fetched < 0.02 * len(rows)


def test_equal_sides_are_reported_equal_after_one_level():
    rows = {k: (f"item {k}", "1.00") for k in range(1, 5_001)}
    report = reconcile_aggregate(
        SPEC, source=MemoryPeer("a", rows), target=MemoryPeer("b", dict(rows))
    )
    assert report.drift == 0
    assert report.levels == 1
    assert report.rows_fetched == 0
    assert report.rows_hashed == 2 * len(rows)


def test_empty_sides_are_equal():
    report = reconcile_aggregate(SPEC, source=MemoryPeer("a", {}), target=MemoryPeer("b", {}))
    assert report.drift == 0 and report.levels == 0


def test_timestamps_in_other_zones_render_in_utc():
    assert render_value("timestamp", datetime(2026, 1, 1, tzinfo=UTC)).endswith("00:00:00.000000Z")
