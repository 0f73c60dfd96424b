"""Where the routing table comes from: a YAML file (re-read when it changes) or the database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from strangler.gateway.routing import RoutingConfigError, RoutingTable, load_routing_file

DATABASE = "db"


class RoutingSource(Protocol):
    description: str

    def load(self) -> RoutingTable:
        """Read and validate the table; RoutingConfigError when it cannot be used."""

    def changed(self) -> bool:
        """Cheap check whether a reload is worth trying."""


class FileSource:
    """A YAML routing file; changes are seen by size and modification time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = str(self.path)
        self._seen: tuple[int, int] | None = None

    def _signature(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def changed(self) -> bool:
        return self._signature() != self._seen

    def load(self) -> RoutingTable:
        signature = self._signature()
        table = load_routing_file(self.path)
        self._seen = signature
        return table


class DatabaseSource:
    """The Route/Backend/Instance models; read in a worker thread, never per request."""

    description = "database"

    def changed(self) -> bool:
        return True  # the table's fingerprint decides whether anything is applied

    def load(self) -> RoutingTable:
        from django.db import DatabaseError, connection

        from strangler.gateway.selectors import routing_table_from_db

        try:
            return routing_table_from_db()
        except DatabaseError as exc:
            raise RoutingConfigError(
                f"cannot read the routing table from the database: {exc}"
            ) from exc
        finally:
            connection.close()  # this runs in a pool thread; do not leave its connection open


def routing_source(spec: str) -> RoutingSource:
    """`db` for the database, anything else is a YAML file path."""
    if not spec:
        raise RoutingConfigError(
            "no routing table: pass --routes FILE (or --routes db), "
            "or set STRANGLER_GATEWAY['ROUTES']"
        )
    if spec == DATABASE:
        return DatabaseSource()
    if not Path(spec).is_file():
        raise RoutingConfigError(f"routing table {spec} does not exist")
    return FileSource(spec)
