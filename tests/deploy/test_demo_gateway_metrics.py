"""deploy/demo.py reads the gateway's /metrics with the gateway's token, as a remote caller must."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import uvicorn

from strangler.gateway.app import GatewayApp
from strangler.gateway.conf import GatewaySettings
from strangler.gateway.sources import FileSource
from tests.processes import ROOT, free_port, wait_until

TOKEN = "demo-gateway-token"


def demo_script() -> ModuleType:
    path = ROOT / "deploy" / "demo.py"
    spec = importlib.util.spec_from_file_location("deploy_demo_metrics", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def metrics_url(tmp_path: Path) -> Iterator[str]:
    """The real gateway on loopback, trusting 127.0.0.1 as a proxy: its callers are not local,
    so /metrics needs the token (as for a caller on another host or container)."""
    routes = tmp_path / "routes.yaml"
    routes.write_text('backends:\n  monolith: ["http://127.0.0.1:9"]\nroutes: []\n')
    settings = GatewaySettings(
        health_interval=0, trusted_proxies=("127.0.0.1",), registration_token=TOKEN
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            GatewayApp(settings, FileSource(routes)), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=15, what="the gateway to listen")
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        server.should_exit = True
        thread.join(15)


def test_the_reload_check_sends_the_gateways_token(
    metrics_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = demo_script()
    monkeypatch.setenv("STRANGLER_GATEWAY_TOKEN", TOKEN)
    assert demo.gateway_reloads(metrics_url) == 1.0  # the table loaded at start


def test_without_the_token_the_reload_check_says_what_to_set(
    metrics_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = demo_script()
    monkeypatch.delenv("STRANGLER_GATEWAY_TOKEN", raising=False)
    with pytest.raises(demo.DemoError, match="set STRANGLER_GATEWAY_TOKEN"):
        demo.gateway_reloads(metrics_url)


def test_a_gateway_that_is_not_running_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRANGLER_GATEWAY_TOKEN", TOKEN)
    assert demo_script().gateway_reloads(f"http://127.0.0.1:{free_port()}/metrics") is None
