"""ASGI entry point for any ASGI server: `uvicorn strangler.gateway.asgi:application`.

The routing table comes from STRANGLER_GATEWAY_ROUTES (a YAML path or "db"), else from
STRANGLER_GATEWAY['ROUTES']. Nothing is contacted until the server starts the app.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")
django.setup()

from strangler.gateway.factory import build_gateway  # noqa: E402 - needs django.setup() first

application = build_gateway(os.environ.get("STRANGLER_GATEWAY_ROUTES"))
