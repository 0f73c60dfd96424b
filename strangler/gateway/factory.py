"""Builds the gateway app from Django settings: one composition root for the command and asgi.py."""

from __future__ import annotations

from strangler.gateway.app import GatewayApp
from strangler.gateway.conf import gateway_settings
from strangler.gateway.ownership import ControlDatabaseReader
from strangler.gateway.shadow import ShadowResult
from strangler.gateway.sources import routing_source


def _write_shadow_results(results: list[ShadowResult]) -> None:
    from strangler.gateway.services import shadow_results_record

    shadow_results_record(results=results)


def build_gateway(routes: str | None = None, *, store_shadow_results: bool = True) -> GatewayApp:
    """A gateway for the routing source `routes` (a YAML path or "db"; default from settings)."""
    settings = gateway_settings()
    source = routing_source(routes or settings.routes)
    return GatewayApp(
        settings,
        source,
        write_shadow_results=_write_shadow_results if store_shadow_results else None,
        ownership_reader=ControlDatabaseReader(),
    )
