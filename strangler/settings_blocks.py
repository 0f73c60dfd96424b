"""Settings blocks every project of a migration shares, for its settings module.

Nothing here imports DRF or drf-spectacular: importing them while settings load would freeze their
defaults before REST_FRAMEWORK exists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from strangler.environment import database_from_env, env_bool, env_int
from strangler.observability.logging import logging_config


def rest_framework_settings() -> dict[str, Any]:
    """REST_FRAMEWORK for every side: pagination, filters, schema and error shape."""
    return {
        # drf-spectacular's AutoSchema plus the error answers of each operation.
        "DEFAULT_SCHEMA_CLASS": "strangler.api_schema.DocumentedErrorsSchema",
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
        # The contract is JSON: a form body cannot say null or nest objects, so documenting the
        # form parsers (which the browsable API still uses) would promise what the API refuses.
        "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
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


# --- An extracted service (the shape `manage.py extract_context` generates) --------------------

# The kit's apps a service runs: verify tokens (identity), publish (outbox, transport), consume
# (inbox), compare and fill (sync), and take part in a cutover (ownership, cutover).
SERVICE_KIT_APPS = (
    "strangler.identity",
    "strangler.outbox",
    "strangler.transport",
    "strangler.inbox",
    "strangler.sync",
    "strangler.ownership",
    "strangler.cutover",
)
CONTROL_DATABASE_ROUTER = "strangler.ownership.router.ControlDatabaseRouter"


def service_installed_apps(*context_apps: str) -> list[str]:
    """INSTALLED_APPS of a service: Django's essentials, DRF, the kit's apps, then its own."""
    return [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        # Serves drf_spectacular_sidecar's swagger-ui assets for /api/docs/ (collectstatic).
        "django.contrib.staticfiles",
        "rest_framework",
        "django_filters",
        "drf_spectacular",
        "drf_spectacular_sidecar",
        *SERVICE_KIT_APPS,
        *context_apps,
    ]


def service_middleware() -> list[str]:
    """MIDDLEWARE of a service; trace context right after security, before anything that logs."""
    return [
        "django.middleware.security.SecurityMiddleware",
        "strangler.observability.middleware.TraceContextMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]


def service_templates() -> list[dict[str, Any]]:
    """TEMPLATES of a service: the apps' templates (Swagger UI, the browsable API)."""
    return [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [],
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
        },
    ]


def service_databases(*, url_variable: str, var_dir: Path, name: str) -> dict[str, Any]:
    """DATABASES of a service: its own (from `url_variable`, else var_dir/<name>.sqlite3) and
    the control database every side shares (STRANGLER_CONTROL_DATABASE_URL), which says who
    writes each context. Use with DATABASE_ROUTERS = [CONTROL_DATABASE_ROUTER]."""
    return {
        "default": database_from_env(url_variable, Path(var_dir) / f"{name}.sqlite3"),
        "control": database_from_env(
            "STRANGLER_CONTROL_DATABASE_URL", Path(var_dir) / "control.sqlite3"
        ),
    }


def inbox_settings(
    *,
    service_name: str,
    env_prefix: str,
    handlers: str,
    binding_keys: list[str],
    batch_size: int = 500,
    prefetch: int = 1000,
) -> dict[str, Any]:
    """STRANGLER_INBOX of a side; `<env_prefix>_INBOX_QUEUE`, `_BATCH_SIZE`, `_PREFETCH`,
    `_MAX_ATTEMPTS` and `_RETRY_BACKOFF` override the queue and its tuning."""
    try:
        backoff = float(os.environ.get(f"{env_prefix}_INBOX_RETRY_BACKOFF") or "0.5")
    except ValueError as exc:
        raise ImproperlyConfigured(f"{env_prefix}_INBOX_RETRY_BACKOFF: {exc}") from exc
    return {
        "SUBSCRIBER": service_name,
        "QUEUE": os.environ.get(f"{env_prefix}_INBOX_QUEUE") or f"{service_name}.events",
        "BINDING_KEYS": list(binding_keys),
        "HANDLERS": handlers,
        "BATCH_SIZE": env_int(f"{env_prefix}_INBOX_BATCH_SIZE", batch_size),
        "PREFETCH": env_int(f"{env_prefix}_INBOX_PREFETCH", prefetch),
        "MAX_ATTEMPTS": env_int(f"{env_prefix}_INBOX_MAX_ATTEMPTS", 5),
        "RETRY_BACKOFF": backoff,
    }


def subscription_of(inbox: dict[str, Any]) -> dict[str, Any]:
    """The STRANGLER_SUBSCRIPTIONS entry `setup_broker` declares for an inbox: the same queue
    and binding keys the consumer reads."""
    return {
        "subscriber": inbox["SUBSCRIBER"],
        "queue": inbox["QUEUE"],
        "binding_keys": list(inbox["BINDING_KEYS"]),
    }


def peers_from_env(variables: dict[str, str]) -> dict[str, str]:
    """STRANGLER_SYNC["PEERS"]: {context: base URL of the other side} from {context: variable};
    contexts whose variable is unset are left out."""
    return {
        context: os.environ[name] for context, name in variables.items() if os.environ.get(name)
    }


def logging_from_env(*, debug: bool) -> dict[str, Any]:
    """LOGGING: JSON lines with correlation ids unless LOG_FORMAT=text (the default while DEBUG
    is on); LOG_LEVEL sets the level."""
    return logging_config(
        json_lines=os.environ.get("LOG_FORMAT", "text" if debug else "json") == "json",
        level=os.environ.get("LOG_LEVEL", "INFO"),
    )


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
