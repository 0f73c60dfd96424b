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
django.setup()

from strangler.gateway.factory import build_gateway  # noqa: E402 - needs django.setup() first

application = build_gateway(os.environ.get("STRANGLER_GATEWAY_ROUTES"))
