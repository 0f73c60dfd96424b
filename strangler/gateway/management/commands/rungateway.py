"""`manage.py rungateway`: serve the strangler gateway (an ASGI app) with uvicorn."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.gateway.conf import gateway_settings
from strangler.gateway.factory import build_gateway
from strangler.gateway.routing import RoutingConfigError
from strangler.gateway.server import serve_gateway
from strangler.observability.tracing import configure_tracing, instrument_asgi


class Command(BaseCommand):
    help = (
        "Run the strangler gateway: routes each request to the monolith or a service by the "
        "routing table (YAML file or the database), with shadow, canary, health checks and "
        "metrics. Writes (POST/PUT/PATCH/DELETE) on a route with `context:` go to that context's "
        "current writer, read from the control database every OWNERSHIP_REFRESH seconds. "
        "The table is re-read when it changes, or on SIGHUP."
    )
    requires_system_checks = ["__all__"]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1)."
        )
        parser.add_argument("--port", type=int, default=8080, help="Port to bind (default 8080).")
        parser.add_argument(
            "--routes",
            default="",
            help="Routing table: a YAML file, or 'db' for the Route models "
            "(default: STRANGLER_GATEWAY['ROUTES']).",
        )
        parser.add_argument(
            "--check", action="store_true", help="Validate the routing table, print it and exit."
        )
        parser.add_argument(
            "--no-shadow-store",
            action="store_true",
            help="Log shadow mismatches instead of storing them in the database.",
        )
        parser.add_argument("--access-log", action="store_true", help="Log every request (slower).")
        parser.add_argument(
            "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
        )

    def handle(self, *args: Any, **options: Any) -> None:
        configure_tracing(service_name="gateway")

        routes = options["routes"] or gateway_settings().routes
        try:
            app = build_gateway(routes, store_shadow_results=not options["no_shadow_store"])
            table = app.source.load()
            app.ownership.check(table)
        except RoutingConfigError as exc:
            raise CommandError(str(exc)) from exc
        if options["check"]:
            self.stdout.write(
                f"{table.source}: {len(table.backends)} backends, {len(table.routes)} routes"
            )
            for route in table.routes:
                self.stdout.write(f"  {route.to_dict()}")
            return
        settings = gateway_settings()
        admin = f", admin on http://{settings.admin_listen}" if settings.admin_listen else ""
        self.stdout.write(
            f"gateway on http://{options['host']}:{options['port']} "
            f"(routes: {app.source.description}{admin})"
        )
        started = serve_gateway(
            instrument_asgi(app),
            app.admin_listener(),
            settings,
            host=options["host"],
            port=options["port"],
            access_log=options["access_log"],
            log_level=options["log_level"],
        )
        if not started:
            raise CommandError("the gateway did not start; see the log above")
