"""Internal endpoints reconcile and the copy phase read on each side: bounds, range checksums,
canonical rows, copied chunks and the writer's load.

They are mounted under /internal/sync/ and served through strangler.sync.internal_api: the shared
token (STRANGLER_INTERNAL_TOKEN) and the protocol version are checked there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strangler.sync.checksums import Segment, canonical_rows, describe_aggregate, range_checksums
from strangler.sync.conf import AggregateSpec, UnknownAggregate, sync_settings
from strangler.sync.copy_source import MAX_CHUNK_ROWS, read_chunk, writer_load
from strangler.sync.internal_api import internal_endpoint

MAX_SEGMENTS = 10_000
MAX_PARTS = 1024
MAX_RANGES = 10_000
MAX_ROWS = 100_000


class BadSyncRequest(ValueError):
    """The request body is not what the endpoint expects."""


def _endpoint(
    handler: Callable[[AggregateSpec, dict[str, Any]], dict[str, Any]],
) -> Callable[..., Any]:
    def answer(body: dict[str, Any], context: str, aggregate: str) -> dict[str, Any]:
        return handler(sync_settings().aggregate(context, aggregate), body)

    answer.__name__ = handler.__name__
    answer.__doc__ = handler.__doc__
    return internal_endpoint(answer, statuses={UnknownAggregate: 404})


def _int_pair(item: Any, what: str) -> tuple[int, int]:
    if not isinstance(item, list | tuple) or len(item) < 2:
        raise BadSyncRequest(f"{what} must be [lo, hi, ...], got {item!r}")
    lo, hi = item[0], item[1]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)) or not (
        lo >= -(2**63) and hi <= 2**63
    ):
        raise BadSyncRequest(f"{what} must be [lo, hi, ...] of bigint keys, got {item!r}")
    if hi <= lo:
        raise BadSyncRequest(f"{what} [{lo}, {hi}) is empty")
    return lo, hi


def describe(spec: AggregateSpec, body: dict[str, Any]) -> dict[str, Any]:
    """Key bounds, count and the field signature of this side's rows."""
    return describe_aggregate(spec).as_dict()


def checksums(spec: AggregateSpec, body: dict[str, Any]) -> dict[str, Any]:
    """Count and checksum of each bucket of each segment [lo, hi, parts]."""
    raw = body.get("segments")
    if not isinstance(raw, list) or len(raw) > MAX_SEGMENTS:
        raise BadSyncRequest(f"'segments' must be a list of at most {MAX_SEGMENTS} [lo, hi, parts]")
    segments = []
    for item in raw:
        lo, hi = _int_pair(item, "a segment")
        parts = item[2] if len(item) > 2 else 1
        if isinstance(parts, bool) or not isinstance(parts, int) or not 1 <= parts <= MAX_PARTS:
            raise BadSyncRequest(f"parts must be between 1 and {MAX_PARTS}")
        segments.append(Segment(lo, hi, parts))
    sums, hashed = range_checksums(spec, segments, workers=sync_settings().reconcile_workers)
    # Checksums are exact integers beyond 2**53: sent as strings for every JSON reader.
    return {
        "segments": [[[s.count, str(s.checksum)] for s in seg] for seg in sums],
        "rows_hashed": hashed,
    }


def rows(spec: AggregateSpec, body: dict[str, Any]) -> dict[str, Any]:
    """Canonical field values of the rows in the given key ranges."""
    raw = body.get("ranges")
    if not isinstance(raw, list) or len(raw) > MAX_RANGES:
        raise BadSyncRequest(f"'ranges' must be a list of at most {MAX_RANGES} [lo, hi]")
    found = canonical_rows(spec, [_int_pair(item, "a range") for item in raw])
    if len(found) > MAX_ROWS:
        raise BadSyncRequest(f"the ranges hold more than {MAX_ROWS} rows; ask for smaller ones")
    return {"rows": {str(key): values for key, values in found.items()}}


def copy(spec: AggregateSpec, body: dict[str, Any]) -> dict[str, Any]:
    """Up to `limit` rows after key `after` with their versions, in one snapshot (COPY text)."""
    after = body.get("after")
    limit = body.get("limit")
    if after is not None and not isinstance(after, int):
        raise BadSyncRequest("'after' must be an integer key or null")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_CHUNK_ROWS:
        raise BadSyncRequest(f"'limit' must be an integer from 1 to {MAX_CHUNK_ROWS}")
    return read_chunk(spec, after=after, limit=limit).as_dict()


def load(spec: AggregateSpec, body: dict[str, Any]) -> dict[str, Any]:
    """This side's unpublished outbox events (counted up to `bound` + 1) and its high water."""
    bound = body.get("bound", 10_000)
    if not isinstance(bound, int) or bound < 0:
        raise BadSyncRequest("'bound' must be a non-negative integer")
    return writer_load(bound=bound).as_dict()


describe_view = _endpoint(describe)
checksums_view = _endpoint(checksums)
rows_view = _endpoint(rows)
copy_view = _endpoint(copy)
load_view = _endpoint(load)
