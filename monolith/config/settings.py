"""Settings of the monolith, read from the environment (12-factor)."""

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
    peers_from_env,
    production_security_settings,
    rest_framework_settings,
    spectacular_settings,
)

# The repository root: the shop runs from the source tree (manage.py, docs/, var/).
BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = var_dir_from_env(BASE_DIR)
DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = secret_key_from_env(DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "strangler.identity",
    "strangler.outbox",
    "strangler.transport",
    "strangler.contracts",
    "strangler.seams",
    "strangler.gateway",
    "strangler.sync",
    "strangler.inbox",
    "strangler.ownership",
    "strangler.cutover",
    "strangler.autopilot",
    "strangler.sagas",
    "monolith.catalog",
    "monolith.inventory",
    "monolith.customers",
    "monolith.orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "strangler.observability.middleware.TraceContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "monolith.config.urls"
WSGI_APPLICATION = "monolith.config.wsgi.application"
ASGI_APPLICATION = "monolith.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_env("DATABASE_URL", VAR_DIR / "monolith.sqlite3"),
    # Shared with every service and the gateway: who writes each context (strangler.ownership).
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
    title="Shop monolith API",
    description="The legacy shop: catalog, inventory, customers and orders.",
)

# strangler-kit
STRANGLER_SERVICE_NAME = "monolith"
STRANGLER_VAR_DIR = VAR_DIR
# Identity across the split: the monolith signs access tokens (POST /api/auth/token/) with its
# private key; every side verifies them with the public keys (docs/adr/0009). In development the
# key pair is made under var/identity/ on first use.
STRANGLER_IDENTITY = {
    "ISSUER": "monolith",
    "SIGNING_KEY": os.environ.get(
        "STRANGLER_IDENTITY_SIGNING_KEY", str(VAR_DIR / "identity" / "signing.pem")
    ),
    "VERIFYING_KEYS": env_list(
        "STRANGLER_IDENTITY_VERIFYING_KEYS", [str(VAR_DIR / "identity" / "public")]
    ),
    "TOKEN_LIFETIME": env_int("STRANGLER_IDENTITY_TOKEN_LIFETIME", 3600),
}
# The shop's published language (shared_contracts/: EVENTS, UPCASTERS, schemas, released.json);
# check_contracts and generate_asyncapi work on it, and its reference pages live in docs/.
STRANGLER_CONTRACTS = {
    "PACKAGES": ["shared_contracts"],
    "DOCS_DIR": BASE_DIR / "docs" / "reference",
}
BROKER_URL = broker_url_from_env()
STRANGLER_TRANSPORT = transport_from_env()
# Reverse sync: once a context is cut over to its service, the monolith consumes the service's
# events into its legacy tables (monolith/config/inbox.py); its own events are skipped there.
_INBOX_QUEUE = os.environ.get("MONOLITH_INBOX_QUEUE", "monolith.events")
# Orders' stock sagas (below) wait for the inventory service's answers.
_INBOX_BINDING_KEYS = [
    "catalog.#",
    "inventory.stock.upserted",
    "inventory.stock.reserved",
    "inventory.stock.released",
    "inventory.reservation.refused",
]
STRANGLER_INBOX = {
    "SUBSCRIBER": STRANGLER_SERVICE_NAME,
    "QUEUE": _INBOX_QUEUE,
    "BINDING_KEYS": _INBOX_BINDING_KEYS,
    "HANDLERS": "monolith.config.inbox.HANDLERS",
    "BATCH_SIZE": env_int("MONOLITH_INBOX_BATCH_SIZE", 500),
    "RETRY_BACKOFF": float(os.environ.get("MONOLITH_INBOX_RETRY_BACKOFF", "0.5")),
}
# Queues this process consumes (declared by `manage.py setup_broker`).
STRANGLER_SUBSCRIPTIONS: list[dict[str, object]] = [
    {
        "subscriber": STRANGLER_SERVICE_NAME,
        "queue": _INBOX_QUEUE,
        "binding_keys": _INBOX_BINDING_KEYS,
    }
]
# Which side writes each context lives in the control database; the monolith until a cutover.
STRANGLER_OWNERSHIP = {
    "CONTEXTS": {
        "catalog": {"service": "catalog-service", "default_writer": "monolith"},
        "inventory": {"service": "inventory-service", "default_writer": "monolith"},
    },
}
# Orders across the split (docs/adr/0012): once the inventory service writes inventory, an order
# is placed pending and waits for the service to reserve its stock; `manage.py expire_sagas`
# rejects the orders it did not answer within the timeout.
STRANGLER_SAGAS = {
    "TYPES": {
        "orders.place_order": {
            "context": "inventory",
            "timeout": float(os.environ.get("MONOLITH_ORDER_STOCK_TIMEOUT", "60")),
            "on_timeout": "monolith.orders.services.order_placement_timed_out",
        },
    },
}
# The gateway's routing table (deploy/demo.py writes it): the migration dashboard shows each
# route's mode and canary share from it; `rungateway --routes` may name another.
STRANGLER_GATEWAY = {"ROUTES": str(VAR_DIR / "routes.yaml")}
# What backfill / reconcile / replay work on (strangler.sync): the one place the mapping lives.
# The compared fields and their kinds are read from each event's published schema
# (shared_contracts/schemas), the one place both sides agree on them (docs/adr/0006).
STRANGLER_SYNC = {
    "CONTEXTS": {
        "catalog": {
            "category": {
                "model": "catalog.Category",
                "event": "catalog.category.upserted",
                "deleted_event": "catalog.category.deleted",
                "snapshot": "monolith.catalog.events.category_upserted_payload",
                "deleted_payload": "monolith.catalog.events.deleted_payload",
            },
            "product": {
                "model": "catalog.Product",
                "event": "catalog.product.upserted",
                "deleted_event": "catalog.product.deleted",
                "snapshot": "monolith.catalog.events.product_upserted_payload",
                "deleted_payload": "monolith.catalog.events.deleted_payload",
            },
        },
        "inventory": {
            "stock": {
                "model": "inventory.StockItem",
                "event": "inventory.stock.upserted",
                "snapshot": "monolith.inventory.events.stock_upserted_payload",
                # `available` is derived (on_hand - reserved), not a column: not compared.
                "exclude": ["available"],
            },
        },
    },
    # {context: base URL of the other side}, e.g. {"catalog": "http://127.0.0.1:8001"}.
    "PEERS": peers_from_env(
        {"catalog": "CATALOG_SERVICE_URL", "inventory": "INVENTORY_SERVICE_URL"}
    ),
}
# The autopilot (docs/howto/migrate-by-plan.md): each context's plan of phases and gates, in a
# YAML file; the gateway whose metrics the canary gates read and whose routes the plan moves.
STRANGLER_AUTOPILOT = {
    "PLANS": os.environ.get(
        "STRANGLER_AUTOPILOT_PLANS", str(BASE_DIR / "deploy" / "autopilot.yaml")
    ),
    "GATEWAY_URL": os.environ.get("STRANGLER_GATEWAY_URL", ""),
    "INTERVAL": float(os.environ.get("STRANGLER_AUTOPILOT_INTERVAL", "5")),
    "LEASE_SECONDS": float(os.environ.get("STRANGLER_AUTOPILOT_LEASE_SECONDS", "30")),
}
# Celery (docs/howto/run-with-celery.md): the kit's tasks on a queue of their own
# (STRANGLER_CELERY_QUEUE); with STRANGLER_RUN_MODE=celery, beat schedules the relay.
globals().update(
    celery_settings(service_name=STRANGLER_SERVICE_NAME, broker_url=BROKER_URL, var_dir=VAR_DIR)
)
CELERY_TASK_ALWAYS_EAGER = False

# JSON lines (with correlation ids) unless LOG_FORMAT=text; text by default while DEBUG is on.
LOGGING = logging_config(
    json_lines=os.environ.get("LOG_FORMAT", "text" if DEBUG else "json") == "json",
    level=os.environ.get("LOG_LEVEL", "INFO"),
)
