"""Gateway apps for the gateway's unit tests, built from a route table's text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from strangler.gateway.app import GatewayApp
from strangler.gateway.conf import GatewaySettings
from strangler.gateway.sources import FileSource


def gateway_with(tmp_path: Path, routes: str, **settings: Any) -> GatewayApp:
    """A gateway serving `routes` (YAML) written under `tmp_path`; no health checks unless
    `settings` asks for them."""
    path = tmp_path / "routes.yaml"
    path.write_text(routes)
    return GatewayApp(GatewaySettings(**{"health_interval": 0, **settings}), FileSource(path))
