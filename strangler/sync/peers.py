"""The sides reconcile compares and copy_context reads: this process's database, or a peer over
/internal/sync/."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from strangler.sync.checksums import (
    Bounds,
    RangeSum,
    Segment,
    canonical_rows,
    describe_aggregate,
    range_checksums,
)
from strangler.sync.conf import AggregateSpec, sync_settings
from strangler.sync.copy_source import CopyChunk, WriterLoad, read_chunk, writer_load
from strangler.sync.internal_api import InternalClient


class SyncPeer(abc.ABC):
    """One side of a comparison; answers about one aggregate at a time."""

    name: str
    # Whether calls may run on another thread than the caller's (local Django connections may not
    # see the caller's uncommitted transaction, e.g. in tests).
    concurrent: bool = True

    @abc.abstractmethod
    def describe(self, spec: AggregateSpec) -> Bounds: ...

    @abc.abstractmethod
    def checksums(
        self, spec: AggregateSpec, segments: Sequence[Segment]
    ) -> tuple[list[list[RangeSum]], int]:
        """Per segment the RangeSum of each bucket, and the number of rows the side hashed."""

    @abc.abstractmethod
    def rows(
        self, spec: AggregateSpec, ranges: Sequence[tuple[int, int]]
    ) -> dict[int, dict[str, str | None]]: ...

    def close(self) -> None:  # noqa: B027 - optional hook: most peers hold no connection
        """Release connections; the default has none."""


class CopySource(abc.ABC):
    """The writer of an aggregate, as the copy phase reads it: chunks of rows, and its load."""

    name: str
    concurrent: bool = True

    @abc.abstractmethod
    def copy_chunk(self, spec: AggregateSpec, *, after: int | None, limit: int) -> CopyChunk:
        """Up to `limit` rows after key `after`, with versions, read in one snapshot."""

    @abc.abstractmethod
    def writer_load(self, *, bound: int) -> WriterLoad:
        """The writer's unpublished outbox events (counted up to `bound` + 1)."""

    def close(self) -> None:  # noqa: B027 - optional hook: most sources hold no connection
        """Release connections; the default has none."""


class LocalPeer(SyncPeer, CopySource):
    """This process's own database (a Django connection alias)."""

    concurrent = False

    def __init__(
        self, using: str = "default", name: str = "local", workers: int | None = None
    ) -> None:
        self.using = using
        self.name = name
        self.workers = workers if workers is not None else sync_settings().reconcile_workers

    def describe(self, spec: AggregateSpec) -> Bounds:
        return describe_aggregate(spec, using=self.using)

    def checksums(
        self, spec: AggregateSpec, segments: Sequence[Segment]
    ) -> tuple[list[list[RangeSum]], int]:
        return range_checksums(spec, segments, using=self.using, workers=self.workers)

    def rows(
        self, spec: AggregateSpec, ranges: Sequence[tuple[int, int]]
    ) -> dict[int, dict[str, str | None]]:
        return canonical_rows(spec, ranges, using=self.using)

    def copy_chunk(self, spec: AggregateSpec, *, after: int | None, limit: int) -> CopyChunk:
        return read_chunk(spec, after=after, limit=limit, using=self.using)

    def writer_load(self, *, bound: int) -> WriterLoad:
        return writer_load(bound=bound, using=self.using)


class HttpPeer(SyncPeer, CopySource):
    """Another process's /internal/sync/ endpoints; every failure is a PeerError."""

    def __init__(self, client: InternalClient) -> None:
        self.client = client
        self.name = client.base_url

    def describe(self, spec: AggregateSpec) -> Bounds:
        return self.client.call(
            "sync",
            f"{spec.context}/{spec.name}/describe/",
            {},
            lambda data: Bounds(
                data["signature"], int(data["count"]), data["min_key"], data["max_key"]
            ),
        )

    def checksums(
        self, spec: AggregateSpec, segments: Sequence[Segment]
    ) -> tuple[list[list[RangeSum]], int]:
        body = {"segments": [[s.lo, s.hi, s.parts] for s in segments]}

        def read(data: dict) -> tuple[list[list[RangeSum]], int]:
            sums = [[RangeSum(int(c), int(s)) for c, s in seg] for seg in data["segments"]]
            return sums, int(data["rows_hashed"])

        return self.client.call("sync", f"{spec.context}/{spec.name}/checksums/", body, read)

    def rows(
        self, spec: AggregateSpec, ranges: Sequence[tuple[int, int]]
    ) -> dict[int, dict[str, str | None]]:
        return self.client.call(
            "sync",
            f"{spec.context}/{spec.name}/rows/",
            {"ranges": [list(r) for r in ranges]},
            lambda data: {int(key): values for key, values in data["rows"].items()},
        )

    def copy_chunk(self, spec: AggregateSpec, *, after: int | None, limit: int) -> CopyChunk:
        return self.client.call(
            "sync",
            f"{spec.context}/{spec.name}/copy/",
            {"after": after, "limit": limit},
            CopyChunk.from_dict,
        )

    def writer_load(self, *, bound: int) -> WriterLoad:
        # Any aggregate's URL serves the writer's load; the first one listed here names it.
        spec = sync_settings().resolve(self.client.context)[0]
        return self.client.call(
            "sync", f"{spec.context}/{spec.name}/load/", {"bound": bound}, WriterLoad.from_dict
        )

    def close(self) -> None:
        self.client.close()
