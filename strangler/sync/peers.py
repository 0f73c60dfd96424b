"""The two sides reconcile compares: this process's database, or a peer over /internal/sync/."""

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
from strangler.sync.conf import AggregateSpec
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


class LocalPeer(SyncPeer):
    """This process's own database (a Django connection alias)."""

    concurrent = False

    def __init__(self, using: str = "default", name: str = "local") -> None:
        self.using = using
        self.name = name

    def describe(self, spec: AggregateSpec) -> Bounds:
        return describe_aggregate(spec, using=self.using)

    def checksums(
        self, spec: AggregateSpec, segments: Sequence[Segment]
    ) -> tuple[list[list[RangeSum]], int]:
        return range_checksums(spec, segments, using=self.using)

    def rows(
        self, spec: AggregateSpec, ranges: Sequence[tuple[int, int]]
    ) -> dict[int, dict[str, str | None]]:
        return canonical_rows(spec, ranges, using=self.using)


class HttpPeer(SyncPeer):
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

    def close(self) -> None:
        self.client.close()
