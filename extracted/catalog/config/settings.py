"""Settings of the catalog service, read from the environment (12-factor).

The database comes from CATALOG_DATABASE_URL, never DATABASE_URL: a shell prepared for the
monolith can never point the service at the monolith's database.
"""

from __future__ import annotations

import os
from pathlib import Path

from strangler.environment import (
    broker_url_from_env,
    database_from_env,
    env_bool,
    env_int,
    env_list,
    secret_key_from_env,
    transport_from_env,
    var_dir_from_env,
)
from strangler.observability.logging import logging_config
from strangler.settings_blocks import (
    celery_settings,
    gateway_hop_settings,
    production_security_settings,
    rest_framework_settings,
    spectacular_settings,
)

# The service's own folder (extracted/catalog). In the embedded demo it shares the repository's
# var/ with the monolith: the control database and the embedded broker's folder live there.
BASE_DIR = Path(__file__).resolve().parents[1]
VAR_DIR = var_dir_from_env(BASE_DIR.parents[1])
DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = secret_key_from_env(DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    # Serves drf_spectacular_sidecar's swagger-ui assets for /api/docs/ (runserver, collectstatic).
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "strangler.identity",
    "strangler.outbox",
    "strangler.transport",
    "strangler.inbox",
    "strangler.sync",
    "strangler.ownership",
    "strangler.cutover",
    "extracted.catalog.catalog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "strangler.observability.middleware.TraceContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "extracted.catalog.config.urls"
WSGI_APPLICATION = "extracted.catalog.config.wsgi.application"
ASGI_APPLICATION = "extracted.catalog.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

DATABASES = {
    "default": database_from_env("CATALOG_DATABASE_URL", VAR_DIR / "catalog.sqlite3"),
    # Shared with the monolith and the gateway: who writes each context (strangler.ownership).
    "control": database_from_env("STRANGLER_CONTROL_DATABASE_URL", VAR_DIR / "control.sqlite3"),
}
DATABASE_ROUTERS = ["strangler.ownership.router.ControlDatabaseRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# Production hardening when DEBUG is off, so `check --deploy` is clean.
if not DEBUG:
    globals().update(production_security_settings())
globals().update(gateway_hop_settings())

# The API conventions every side shares (strangler.api): the contract clients see.
REST_FRAMEWORK = rest_framework_settings()

SPECTACULAR_SETTINGS = spectacular_settings(
    title="Catalog service API",
    description="The catalog context extracted from the shop monolith.",
)

# strangler-kit
STRANGLER_SERVICE_NAME = "catalog-service"
STRANGLER_VAR_DIR = VAR_DIR
# Bearer tokens signed by the monolith, verified here with its public key(s) alone: no call to
# the monolith, no user table (docs/adr/0009). A folder holds one *.pem per accepted key.
STRANGLER_IDENTITY = {
    "ISSUER": "monolith",
    "VERIFYING_KEYS": env_list(
        "STRANGLER_IDENTITY_VERIFYING_KEYS", [str(VAR_DIR / "identity" / "public")]
    ),
}
# The shop's published language: the service validates what it consumes and records against it.
STRANGLER_CONTRACTS = {"PACKAGES": ["shared_contracts"]}
# Which side writes the catalog lives in the control database; until the first cutover the
# monolith does, and this service refuses writes with 409 (`manage.py cutover catalog`).
STRANGLER_OWNERSHIP = {
    "CONTEXTS": {"catalog": {"service": STRANGLER_SERVICE_NAME, "default_writer": "monolith"}},
}
BROKER_URL = broker_url_from_env()
# Celery (docs/howto/run-with-celery.md): the kit's tasks on a queue of their own
# (STRANGLER_CELERY_QUEUE); with STRANGLER_RUN_MODE=celery, beat schedules the relay.
globals().update(
    celery_settings(service_name=STRANGLER_SERVICE_NAME, broker_url=BROKER_URL, var_dir=VAR_DIR)
)

# STRANGLER_EXCHANGE / STRANGLER_BROKER_FOLDER: an exchange (or folder) of its own per stack.
STRANGLER_TRANSPORT = transport_from_env()

_INBOX_QUEUE = os.environ.get("CATALOG_INBOX_QUEUE", "catalog-service.events")
_INBOX_BINDING_KEYS = ["catalog.#"]
STRANGLER_INBOX = {
    "SUBSCRIBER": STRANGLER_SERVICE_NAME,
    "QUEUE": _INBOX_QUEUE,
    "BINDING_KEYS": _INBOX_BINDING_KEYS,
    "HANDLERS": "extracted.catalog.catalog.handlers.HANDLERS",
    "BATCH_SIZE": env_int("CATALOG_INBOX_BATCH_SIZE", 500),
    "PREFETCH": env_int("CATALOG_INBOX_PREFETCH", 1000),
    "MAX_ATTEMPTS": env_int("CATALOG_INBOX_MAX_ATTEMPTS", 5),
    "RETRY_BACKOFF": float(os.environ.get("CATALOG_INBOX_RETRY_BACKOFF", "0.5")),
}
# What `manage.py setup_broker` declares: the same subscription the consumer reads.
STRANGLER_SUBSCRIPTIONS = [
    {
        "subscriber": STRANGLER_SERVICE_NAME,
        "queue": _INBOX_QUEUE,
        "binding_keys": _INBOX_BINDING_KEYS,
    }
]

# What reconcile / rebuild_projection (strangler.sync) compare and rebuild: the same fields as the
# monolith's STRANGLER_SYNC, so both sides hash the same canonical rows.
STRANGLER_SYNC = {
    "CONTEXTS": {
        "catalog": {
            "category": {
                "model": "catalog.Category",
                "snapshot": "extracted.catalog.catalog.events.category_upserted_payload",
                "deleted_payload": "extracted.catalog.catalog.events.deleted_payload",
                "fields": {"name": "text", "slug": "text", "parent_id": "int"},
            },
            "product": {
                "model": "catalog.Product",
                "snapshot": "extracted.catalog.catalog.events.product_upserted_payload",
                "deleted_payload": "extracted.catalog.catalog.events.deleted_payload",
                "fields": {
                    "sku": "text",
                    "name": "text",
                    "description": "text",
                    "price": "money",
                    "currency": "text",
                    "category_id": "int",
                    "active": "bool",
                    "created_at": "timestamp",
                    "updated_at": "timestamp",
                },
            },
        },
    },
    # The other side of each context, for reconcile and cutover run from this side.
    "PEERS": {"catalog": os.environ["MONOLITH_URL"]} if os.environ.get("MONOLITH_URL") else {},
}

# JSON lines (with correlation ids) unless LOG_FORMAT=text; text by default while DEBUG is on.
LOGGING = logging_config(
    json_lines=os.environ.get("LOG_FORMAT", "text" if DEBUG else "json") == "json",
    level=os.environ.get("LOG_LEVEL", "INFO"),
)
