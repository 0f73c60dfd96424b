"""The routing table exported as nginx configuration, checked by nginx itself (`nginx -t`)."""

from __future__ import annotations

import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from strangler.gateway.conf import GatewaySettings
from strangler.gateway.nginx import NginxOptions, render_nginx
from strangler.gateway.routing import parse_routing_table
from tests.servers import require_tool
from tests.strangler.gateway.test_routing import REFERENCE


def nginx_binary() -> str:
    return require_tool("nginx", "nginx-light")


def nginx_accepts(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "nginx.conf"
    conf.write_text(config)
    (tmp_path / "logs").mkdir(exist_ok=True)
    return subprocess.run(
        [
            nginx_binary(),
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(conf),
            "-e",
            str(tmp_path / "logs/error.log"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_exported_reference_table_passes_nginx_t(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(REFERENCE)
    out = StringIO()
    call_command(
        "export_gateway_config",
        "--format",
        "nginx",
        "--routes",
        str(routes),
        "--listen",
        "127.0.0.1:18080",
        stdout=out,
    )
    config = out.getvalue()
    assert "split_clients" in config and "20%" in config
    assert "mirror /_strangler_mirror/l0;" in config
    assert "upstream strangler_catalog {" in config
    assert "server 127.0.0.1:8002" in config and "server 127.0.0.1:8003" in config
    result = nginx_accepts(config, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_every_mode_and_option_exports_to_a_valid_configuration(tmp_path: Path) -> None:
    table = parse_routing_table(
        {
            "backends": {
                "monolith": ["http://127.0.0.1:8001"],
                "orders": {"instances": ["http://127.0.0.1:8004"], "balance": "least_outstanding"},
                "late": [],
            },
            "routes": [
                {
                    "prefix": "/api/orders/",
                    "methods": ["POST"],
                    "mode": "service",
                    "service": "orders",
                },
                {
                    "prefix": "/api/orders/",
                    "mode": "canary",
                    "percent": 12.5,
                    "service": "orders",
                    "client_key": "cookie:sid",
                },
                {
                    "prefix": "/api/orders/export/",
                    "mode": "shadow",
                    "service": "late",
                    "mirror_unsafe": True,
                },
                {"prefix": "/api/legacy/", "mode": "monolith"},
                {"prefix": "/api/all/", "mode": "canary", "percent": 100, "service": "orders"},
            ],
        },
        source="test",
    )
    config = render_nginx(table, GatewaySettings(), NginxOptions())
    assert "least_conn;" in config
    assert "12.5% strangler_orders;" in config
    assert "map $cookie_sid $strangler_r1_key" in config
    assert "server 127.0.0.1:9 down;" in config
    result = nginx_accepts(config, tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_longer_prefix_location_keeps_first_match_semantics() -> None:
    table = parse_routing_table(
        {
            "backends": {"monolith": [], "svc": []},
            "routes": [
                {"prefix": "/api/", "methods": ["DELETE"], "mode": "service", "service": "svc"},
                {"prefix": "/api/catalog/", "mode": "service", "service": "svc"},
            ],
        }
    )
    config = render_nginx(table, GatewaySettings(), NginxOptions(standalone=False))
    catalog_map = config.split("map $request_method $strangler_l1_upstream {")[1].split("}")[0]
    assert "DELETE strangler_svc;" in catalog_map and "default strangler_svc;" in catalog_map
    api_map = config.split("map $request_method $strangler_l0_upstream {")[1].split("}")[0]
    assert "GET strangler_monolith;" in api_map and "DELETE strangler_svc;" in api_map


def test_a_missing_routing_file_is_an_actionable_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_gateway_config", "--routes", str(tmp_path / "missing.yaml"))
