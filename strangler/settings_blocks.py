"""Settings blocks every project of a migration shares, for its settings module.

Nothing here imports DRF or drf-spectacular: importing them while settings load would freeze their
defaults before REST_FRAMEWORK exists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from strangler.environment import env_bool


def rest_framework_settings() -> dict[str, Any]:
    """REST_FRAMEWORK for every side: pagination, filters, schema and error shape."""
    return {
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "DEFAULT_PAGINATION_CLASS": "strangler.api.StandardPagination",
        "PAGE_SIZE": 20,
        "DEFAULT_FILTER_BACKENDS": [
            "django_filters.rest_framework.DjangoFilterBackend",
            "rest_framework.filters.SearchFilter",
            "rest_framework.filters.OrderingFilter",
        ],
        "EXCEPTION_HANDLER": "strangler.api.api_exception_handler",
        # A bearer token signed by the issuer (strangler.identity) first, so that an anonymous
        # write is a 401 on every side alike; the session for the browsable API and the admin.
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "strangler.identity.authentication.SignedTokenAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        # Safe by default: reads open, writes need a user; views state their own permissions.
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    }


def spectacular_settings(*, title: str, description: str) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS; Swagger UI assets from the sidecar package, so docs work offline."""
    return {
        "TITLE": title,
        "DESCRIPTION": description,
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        "COMPONENT_SPLIT_REQUEST": True,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }


def gateway_hop_settings() -> dict[str, Any]:
    """Behind the strangler gateway (or any proxy that sets X-Forwarded-Host): absolute URLs in
    responses (pagination links, Location) name the host the client asked for, not the backend's
    address the proxy connected to. The forwarded host is still checked against ALLOWED_HOSTS.
    USE_X_FORWARDED_HOST=false turns it off for a server that clients reach directly."""
    return {"USE_X_FORWARDED_HOST": env_bool("USE_X_FORWARDED_HOST", default=True)}


def production_security_settings() -> dict[str, Any]:
    """The hardening `manage.py check --deploy` asks for; settings apply it when DEBUG is off."""
    return {
        "SECURE_SSL_REDIRECT": env_bool("SECURE_SSL_REDIRECT", default=True),
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
    }


# --- Celery (docs/howto/run-with-celery.md) -----------------------------------------------------

RELAY_TASK = "strangler.outbox.tasks.publish_outbox_task"
RUN_MODES = ("processes", "celery")


def run_mode() -> str:
    """STRANGLER_RUN_MODE: `processes` (outbox_relay, consume_events; the default) or `celery`."""
    mode = os.environ.get("STRANGLER_RUN_MODE", "").strip().lower() or "processes"
    if mode not in RUN_MODES:
        raise ImproperlyConfigured(
            f"STRANGLER_RUN_MODE={mode!r}: use one of {', '.join(RUN_MODES)}."
        )
    return mode


def strangler_task_routes(queue: str) -> dict[str, Any]:
    """CELERY_TASK_ROUTES entries that put the kit's tasks on `queue`, away from your own tasks."""
    return {"strangler.*": {"queue": queue}}


def relay_beat_schedule(every: float) -> dict[str, Any]:
    """A CELERY_BEAT_SCHEDULE entry: one relay pass every `every` seconds.

    Each tick expires after `every` seconds: while no worker takes the kit's queue, ticks are
    discarded instead of piling up, and a late tick is never run after the next one was sent.
    """
    if every <= 0:
        raise ImproperlyConfigured(f"the relay's beat interval must be positive, not {every}.")
    return {
        "strangler-publish-outbox": {
            "task": RELAY_TASK,
            "schedule": every,
            "options": {"expires": every},
        }
    }


def celery_settings(*, service_name: str, broker_url: str, var_dir: Path) -> dict[str, Any]:
    """CELERY_* settings of a project of the shop: the broker, the kit's queue and, when
    STRANGLER_RUN_MODE=celery, the relay's beat schedule.

    STRANGLER_CELERY_QUEUE names the kit's queue (default `<service name>.strangler`: each
    project's relay ticks must reach that project's workers); STRANGLER_RELAY_EVERY is the
    seconds between relay ticks (default 1).
    """
    queue = os.environ.get("STRANGLER_CELERY_QUEUE") or f"{service_name}.strangler"
    try:
        every = float(os.environ.get("STRANGLER_RELAY_EVERY") or "1.0")
    except ValueError as exc:
        raise ImproperlyConfigured(f"STRANGLER_RELAY_EVERY is not a number: {exc}") from exc
    block: dict[str, Any] = {
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ROUTES": strangler_task_routes(queue),
        "CELERY_BEAT_SCHEDULE": relay_beat_schedule(every) if run_mode() == "celery" else {},
        "STRANGLER_CELERY_QUEUE": queue,
    }
    if broker_url.startswith("filesystem:"):
        # The embedded demo: Celery's messages in files next to the kit's, no server needed
        # (`deploy/demo.py prepare` creates the folders).
        folder = Path(var_dir) / "celery-broker"
        block["CELERY_BROKER_TRANSPORT_OPTIONS"] = {
            "data_folder_in": str(folder / "queues"),
            "data_folder_out": str(folder / "queues"),
            "control_folder": str(folder / "control"),
        }
    return block
