"""The autopilot's hand on the gateway: set one route's mode (and canary share) in the routing
table the gateway reads (its YAML file or the Route rows), then ask it to reload."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from strangler.gateway.conf import gateway_settings
from strangler.gateway.routing import RoutingConfigError, parse_routing_table
from strangler.gateway.sources import DATABASE

logger = logging.getLogger(__name__)


class RouteChangeError(RuntimeError):
    """The route cannot be changed: no table, no such route, or the change would be invalid."""


@dataclass(frozen=True)
class RouteChange:
    """What a change did: the route's mode and share before and after, and how it was applied."""

    route: str
    before: dict[str, Any]
    after: dict[str, Any]
    changed: bool
    applied: str  # "reloaded" (the gateway said so), or how the gateway will see it

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def route_mode(name: str) -> dict[str, Any]:
    """The route's current mode and share, as the table says."""
    spec = _table_spec()
    if spec == DATABASE:
        from strangler.gateway.models import Route

        row = Route.objects.filter(name=name).first()
        if row is None:
            raise RouteChangeError(f"the gateway's database table has no route named {name!r}")
        return {"mode": row.mode, "percent": row.percent if row.mode == "canary" else None}
    entry = _file_route(_read_file(Path(spec)), name, spec)
    return {"mode": entry.get("mode", "monolith"), "percent": entry.get("percent")}


def set_route_mode(
    name: str,
    mode: str,
    *,
    percent: float | None = None,
    gateway_url: str = "",
    dry_run: bool = False,
) -> RouteChange:
    """Give route `name` the mode (and canary percent); idempotent: the same mode is no change."""
    spec = _table_spec()
    wanted: dict[str, Any] = {"mode": mode, "percent": percent if mode == "canary" else None}
    before = route_mode(name)
    if before == wanted:
        return RouteChange(name, before, wanted, False, "unchanged")
    if dry_run:
        return RouteChange(name, before, wanted, True, "dry run")
    if spec == DATABASE:
        _set_in_database(name, wanted)
        applied = "database"
    else:
        _set_in_file(Path(spec), name, wanted)
        applied = "file"
    logger.warning("autopilot: route %s %s -> %s", name, before, wanted)
    if gateway_url and _reload(gateway_url):
        applied = "reloaded"
    else:
        applied += " (seen within the gateway's RELOAD_INTERVAL)"
    return RouteChange(name, before, wanted, True, applied)


def _table_spec() -> str:
    spec = gateway_settings().routes
    if not spec:
        raise RouteChangeError(
            "the gateway's routing table is unknown: set STRANGLER_GATEWAY['ROUTES'] to its file "
            "(or 'db') in the settings the autopilot runs with."
        )
    return spec


def _read_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RouteChangeError(f"cannot read the routing table {path}: {exc}") from exc
    return data


def _file_route(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    for entry in data.get("routes") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise RouteChangeError(f"the routing table {where} has no route named {name!r}")


def _set_in_file(path: Path, name: str, wanted: dict[str, Any]) -> None:
    """Rewrite the file atomically (the gateway never reads half a file), validated first."""
    import yaml

    data = _read_file(path)
    entry = _file_route(data, name, str(path))
    entry["mode"] = wanted["mode"]
    if wanted["percent"] is None:
        entry.pop("percent", None)
    else:
        entry["percent"] = wanted["percent"]
    try:
        parse_routing_table(data, source=str(path))
    except RoutingConfigError as exc:
        raise RouteChangeError(f"route {name} cannot be {wanted}: {exc}") from exc
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    temporary = path.with_name(f".{path.name}.autopilot.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _set_in_database(name: str, wanted: dict[str, Any]) -> None:
    from strangler.gateway.models import Route

    updated = Route.objects.filter(name=name).update(
        mode=wanted["mode"], percent=wanted["percent"] or 0
    )
    if not updated:
        raise RouteChangeError(f"the gateway's database table has no route named {name!r}")


def _reload(gateway_url: str) -> bool:
    """POST /_gateway/reload with the gateway's token; False when it cannot be asked."""
    token = gateway_settings().registration_token
    if not token:
        return False
    try:
        response = httpx.post(
            f"{gateway_url}/_gateway/reload",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5.0,
        )
    except httpx.HTTPError as exc:
        logger.warning("autopilot: the gateway at %s did not reload: %s", gateway_url, exc)
        return False
    return response.status_code == 200
