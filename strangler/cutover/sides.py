"""The two sides of a cutover: this process's database, or the other side over HTTP.

The command runs on either side; every question it asks (backlog, versions, ids) and every change
it makes on a side's own database (fence, seed, sequences) goes through one of these.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import Any

from strangler.cutover import selectors, services
from strangler.cutover.selectors import SideState, VersionMap
from strangler.sync.internal_api import InternalClient
from strangler.sync.peers import HttpPeer, LocalPeer, SyncPeer


class Side(abc.ABC):
    """One side of a context (the monolith or the service)."""

    name: str

    @abc.abstractmethod
    def state(self, context: str, *, dead_letters: bool = False) -> SideState: ...

    @abc.abstractmethod
    def issued_versions(self, context: str) -> VersionMap: ...

    @abc.abstractmethod
    def applied_versions(
        self, context: str, ids: Mapping[str, Iterable[str]] | None = None
    ) -> VersionMap: ...

    @abc.abstractmethod
    def fence(self, context: str, timeout: float) -> str: ...

    @abc.abstractmethod
    def prepare_writer(self, context: str, floors: Mapping[str, int]) -> dict[str, Any]: ...

    @abc.abstractmethod
    def sync_peer(self) -> SyncPeer:
        """This side as reconcile's peer."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the local side holds none of its own."""


class LocalSide(Side):
    """The side this process runs as: its own default database."""

    def __init__(self, name: str) -> None:
        self.name = name

    def state(self, context: str, *, dead_letters: bool = False) -> SideState:
        return selectors.side_state(context, dead_letters=dead_letters)

    def issued_versions(self, context: str) -> VersionMap:
        return selectors.issued_versions(context)

    def applied_versions(
        self, context: str, ids: Mapping[str, Iterable[str]] | None = None
    ) -> VersionMap:
        return selectors.applied_versions(context, ids)

    def fence(self, context: str, timeout: float) -> str:
        return services.fence_writes(context, timeout=timeout)

    def prepare_writer(self, context: str, floors: Mapping[str, int]) -> dict[str, Any]:
        return services.prepare_writer(context, floors)

    def sync_peer(self) -> SyncPeer:
        return LocalPeer(name=self.name)


class HttpSide(Side):
    """The other side, through its /internal/cutover/ endpoints; every failure is a PeerError."""

    def __init__(self, name: str, client: InternalClient) -> None:
        self.name = name
        self.client = client

    def _call(self, context: str, operation: str, body: dict[str, Any], read: Any) -> Any:
        return self.client.call("cutover", f"{context}/{operation}/", body, read)

    def state(self, context: str, *, dead_letters: bool = False) -> SideState:
        return self._call(context, "state", {"dead_letters": dead_letters}, SideState.from_dict)

    def issued_versions(self, context: str) -> VersionMap:
        return self._call(context, "issued", {}, lambda data: _version_map(data["versions"]))

    def applied_versions(
        self, context: str, ids: Mapping[str, Iterable[str]] | None = None
    ) -> VersionMap:
        body = {} if ids is None else {"ids": {label: list(keys) for label, keys in ids.items()}}
        return self._call(context, "applied", body, lambda data: _version_map(data["versions"]))

    def fence(self, context: str, timeout: float) -> str:
        return self._call(
            context, "fence", {"timeout": timeout}, lambda data: str(data["fenced_by"])
        )

    def prepare_writer(self, context: str, floors: Mapping[str, int]) -> dict[str, Any]:
        return self._call(context, "prepare", {"floors": dict(floors)}, dict)

    def sync_peer(self) -> SyncPeer:
        return HttpPeer(self.client.clone())

    def close(self) -> None:
        self.client.close()


def _version_map(raw: Mapping[str, Any]) -> VersionMap:
    """[[id, version], ...] per aggregate type (compact on the wire) back to dicts."""
    return {
        label: {str(key): int(version) for key, version in pairs} for label, pairs in raw.items()
    }


def version_pairs(versions: VersionMap) -> dict[str, list[list[Any]]]:
    return {
        label: [[key, version] for key, version in found.items()]
        for label, found in versions.items()
    }
