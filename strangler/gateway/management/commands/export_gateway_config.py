"""`manage.py export_gateway_config --format nginx`: the routing table for another proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.gateway.conf import gateway_settings
from strangler.gateway.nginx import NginxExportError, NginxOptions, render_nginx
from strangler.gateway.routing import RoutingConfigError
from strangler.gateway.sources import routing_source


class Command(BaseCommand):
    help = (
        "Write the gateway's routing table as an nginx configuration: an upstream per backend, "
        "split_clients for canary routes and mirror for shadow routes (without the diffing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["nginx"], default="nginx", help="Output format.")
        parser.add_argument(
            "--routes", default="", help="YAML file or 'db' (default: STRANGLER_GATEWAY['ROUTES'])."
        )
        parser.add_argument("--listen", default="127.0.0.1:8080", help="nginx listen address.")
        parser.add_argument(
            "--snippet",
            action="store_true",
            help="Only the http{}-level part, to include in an existing nginx.conf.",
        )
        parser.add_argument("--pid", default="nginx-strangler.pid", help="pid file (standalone).")
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        settings = gateway_settings()
        try:
            table = routing_source(options["routes"] or settings.routes).load()
            text = render_nginx(
                table,
                settings,
                NginxOptions(
                    listen=options["listen"], standalone=not options["snippet"], pid=options["pid"]
                ),
            )
        except (RoutingConfigError, NginxExportError) as exc:
            raise CommandError(str(exc)) from exc
        if options["output"]:
            Path(options["output"]).write_text(text)
            self.stderr.write(f"wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")
