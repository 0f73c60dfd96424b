"""Selectors one side answers reconcile with: key bounds, range checksums and canonical rows.

On PostgreSQL a whole segment's sub-range checksums are one GROUP BY query computed by the server
(md5 per row, summed per bucket), so no row leaves the database. Elsewhere (SQLite) the rows are
streamed and hashed in Python, with the same canonical form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connections
from django.db.models import Count, Max, Min, Q
from django.db.models.options import Options

from strangler.sync.canonical import canonical_text, postgres_row_hash_sql, render_row, row_hash
from strangler.sync.conf import AggregateSpec, SyncConfigurationError


@dataclass(frozen=True, slots=True)
class Bounds:
    """What one side holds of an aggregate: smallest and largest key, row count, field signature."""

    signature: str
    count: int
    min_key: int | None
    max_key: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "signature": self.signature,
            "count": self.count,
            "min_key": self.min_key,
            "max_key": self.max_key,
        }


@dataclass(frozen=True, slots=True)
class RangeSum:
    """Row count and checksum of the rows whose key lies in one range."""

    count: int
    checksum: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A key range [lo, hi) to be split into `parts` equal buckets, each checksummed."""

    lo: int
    hi: int
    parts: int

    @property
    def width(self) -> int:
        return max(1, -(-(self.hi - self.lo) // self.parts))

    def buckets(self) -> list[tuple[int, int]]:
        """The bucket ranges, in order; bucket i is [lo + i*width, min(lo + (i+1)*width, hi))."""
        width = self.width
        return [(start, min(start + width, self.hi)) for start in range(self.lo, self.hi, width)]


def describe_aggregate(spec: AggregateSpec, *, using: str = "default") -> Bounds:
    """Key bounds, row count and field signature of this side's rows of the aggregate."""
    model = spec.model
    pk = model._meta.pk.attname
    result = model._base_manager.using(using).aggregate(low=Min(pk), high=Max(pk), count=Count(pk))
    return Bounds(spec.signature, int(result["count"]), result["low"], result["high"])


def range_checksums(
    spec: AggregateSpec, segments: Sequence[Segment], *, using: str = "default"
) -> tuple[list[list[RangeSum]], int]:
    """Per segment, the RangeSum of each of its buckets; and how many rows were hashed."""
    results: list[list[RangeSum]] = []
    hashed = 0
    for segment in segments:
        if connections[using].vendor == "postgresql":
            sums = _postgres_bucket_sums(spec, segment, using)
        else:
            sums = _python_bucket_sums(spec, segment, using)
        hashed += sum(s.count for s in sums)
        results.append(sums)
    return results, hashed


def _postgres_bucket_sums(spec: AggregateSpec, segment: Segment, using: str) -> list[RangeSum]:
    model = spec.model
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = model._meta
    key = f"t.{quote(meta.pk.column)}"
    fields = [
        (kind, f"t.{quote(_column(meta, attname))}")
        for (_, kind), (_, attname) in zip(spec.fields, spec.columns, strict=True)
    ]
    hash_sql = postgres_row_hash_sql(key, fields)
    sql = (
        f"SELECT ({key} - %s) / %s AS bucket, count(*), sum({hash_sql}) "
        f"FROM {quote(meta.db_table)} AS t WHERE {key} >= %s AND {key} < %s GROUP BY 1"
    )
    buckets = segment.buckets()
    sums = [RangeSum(0, 0)] * len(buckets)
    with connection.cursor() as cursor:
        cursor.execute(sql, [segment.lo, segment.width, segment.lo, segment.hi])
        for bucket, count, checksum in cursor.fetchall():
            sums[int(bucket)] = RangeSum(int(count), int(checksum))
    return sums


def _column(meta: Options, attname: str) -> str:
    """The database column behind a model attribute name (`category_id`)."""
    for field in meta.concrete_fields:
        if field.attname == attname:
            return field.column
    raise SyncConfigurationError(f"{meta.label} has no column for attribute {attname!r}")


def _python_bucket_sums(spec: AggregateSpec, segment: Segment, using: str) -> list[RangeSum]:
    kinds = [kind for _, kind in spec.fields]
    columns = [column for _, column in spec.columns]
    model = spec.model
    pk = model._meta.pk.attname
    buckets = segment.buckets()
    counts = [0] * len(buckets)
    checksums = [0] * len(buckets)
    rows = (
        model._base_manager.using(using)
        .filter(**{f"{pk}__gte": segment.lo, f"{pk}__lt": segment.hi})
        .values_list(pk, *columns)
        .order_by()
    )
    for key, *values in rows.iterator(chunk_size=5000):
        index = (key - segment.lo) // segment.width
        counts[index] += 1
        checksums[index] += row_hash(canonical_text(key, render_row(kinds, values), kinds))
    return [RangeSum(c, s) for c, s in zip(counts, checksums, strict=True)]


def canonical_rows(
    spec: AggregateSpec, ranges: Sequence[tuple[int, int]], *, using: str = "default"
) -> dict[int, dict[str, str | None]]:
    """{key: {field: canonical text}} of the rows whose key lies in any of the ranges."""
    if not ranges:
        return {}
    kinds = [kind for _, kind in spec.fields]
    names = [name for name, _ in spec.fields]
    columns = [column for _, column in spec.columns]
    model = spec.model
    pk = model._meta.pk.attname
    condition = Q()
    for lo, hi in ranges:
        condition |= Q(**{f"{pk}__gte": lo, f"{pk}__lt": hi})
    rows = model._base_manager.using(using).filter(condition).values_list(pk, *columns)
    return {
        key: dict(zip(names, render_row(kinds, values), strict=True))
        for key, *values in rows.order_by(pk).iterator(chunk_size=2000)
    }
