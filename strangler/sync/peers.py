"""The two sides reconcile compares: this process's database, or a peer over /internal/sync/."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import httpx

from strangler.sync.checksums import (
    Bounds,
    RangeSum,
    Segment,
    canonical_rows,
    describe_aggregate,
    range_checksums,
)
from strangler.sync.conf import AggregateSpec

TOKEN_HEADER = "X-Strangler-Token"


class PeerError(RuntimeError):
    """A peer could not answer (unreachable, refused the token, or does not know the aggregate)."""


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
    """Another process's /internal/sync/ endpoint, authenticated by the shared token."""

    def __init__(self, base_url: str, *, token: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = self.base_url
        headers = {TOKEN_HEADER: token} if token else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _post(self, spec: AggregateSpec, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"/internal/sync/{spec.context}/{spec.name}/{operation}/"
        try:
            response = self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise PeerError(f"{self.base_url}{url}: cannot reach the peer: {exc}") from exc
        if response.status_code != 200:
            raise PeerError(
                f"{self.base_url}{url} answered {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    def describe(self, spec: AggregateSpec) -> Bounds:
        data = self._post(spec, "describe", {})
        return Bounds(data["signature"], int(data["count"]), data["min_key"], data["max_key"])

    def checksums(
        self, spec: AggregateSpec, segments: Sequence[Segment]
    ) -> tuple[list[list[RangeSum]], int]:
        body = {"segments": [[s.lo, s.hi, s.parts] for s in segments]}
        data = self._post(spec, "checksums", body)
        sums = [[RangeSum(int(c), int(s)) for c, s in seg] for seg in data["segments"]]
        return sums, int(data["rows_hashed"])

    def rows(
        self, spec: AggregateSpec, ranges: Sequence[tuple[int, int]]
    ) -> dict[int, dict[str, str | None]]:
        data = self._post(spec, "rows", {"ranges": [list(r) for r in ranges]})
        return {int(key): values for key, values in data["rows"].items()}

    def close(self) -> None:
        self._client.close()
