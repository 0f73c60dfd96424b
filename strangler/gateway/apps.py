"""Django app of the gateway: models, admin, commands (the proxy itself is plain ASGI)."""

from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "strangler.gateway"
    label = "strangler_gateway"
    verbose_name = "Gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.gateway import checks  # noqa: F401 - registers the system checks
