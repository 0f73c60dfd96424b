"""ASGI entry point for any ASGI server: `uvicorn strangler.gateway.asgi:application`.

The routing table comes from STRANGLER_GATEWAY_ROUTES (a YAML path or "db"), else from
STRANGLER_GATEWAY['ROUTES']. DJANGO_SETTINGS_MODULE names the project's settings (the kit
guesses none). Nothing is contacted until the server starts the app.
"""

from __future__ import annotations

import os

import django
from django.core.exceptions import ImproperlyConfigured

if not os.environ.get("DJANGO_SETTINGS_MODULE"):
    raise ImproperlyConfigured(
        "DJANGO_SETTINGS_MODULE is not set: the gateway reads its routes and instances from the "
        "project's settings, e.g. DJANGO_SETTINGS_MODULE=mysite.settings uvicorn "
        "strangler.gateway.asgi:application"
    )
from strangler.observability.tracing import configure_tracing

configure_tracing(service_name="gateway")  # before django.setup(), which would name it otherwise
django.setup()

from strangler.gateway.factory import build_gateway  # noqa: E402 - needs django.setup() first
from strangler.observability.tracing import instrument_asgi  # noqa: E402

application = instrument_asgi(build_gateway(os.environ.get("STRANGLER_GATEWAY_ROUTES")))
