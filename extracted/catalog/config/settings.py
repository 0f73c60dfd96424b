"""Settings of the service, read from the environment (12-factor).

Its database comes from a variable of its own (DATABASES below), never DATABASE_URL: a shell
prepared for the monolith can never point the service at the monolith's database.
"""

from __future__ import annotations

from pathlib import Path

from strangler.environment import (
    broker_url_from_env,
    env_bool,
    env_list,
    secret_key_from_env,
    transport_from_env,
    var_dir_from_env,
)
from strangler.settings_blocks import (
    CONTROL_DATABASE_ROUTER,
    celery_settings,
    gateway_hop_settings,
    inbox_settings,
    logging_from_env,
    peers_from_env,
    production_security_settings,
    rest_framework_settings,
    service_databases,
    service_installed_apps,
    service_middleware,
    service_templates,
    spectacular_settings,
    subscription_of,
)

# The service's own folder. VAR_DIR defaults to var/ in the folder that holds the service's
# package: in the embedded demo the control database and the broker's files live there.
BASE_DIR = Path(__file__).resolve().parents[1]
VAR_DIR = var_dir_from_env(BASE_DIR.parents[1])
DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = secret_key_from_env(DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = service_installed_apps(
    "extracted.catalog.catalog",
)
MIDDLEWARE = service_middleware()
ROOT_URLCONF = "extracted.catalog.config.urls"
WSGI_APPLICATION = "extracted.catalog.config.wsgi.application"
ASGI_APPLICATION = "extracted.catalog.config.asgi.application"
TEMPLATES = service_templates()

# Its own database, and the control database (who writes each context) every side shares.
DATABASES = service_databases(
    url_variable="CATALOG_DATABASE_URL",
    var_dir=VAR_DIR,
    name="catalog",
)
DATABASE_ROUTERS = [CONTROL_DATABASE_ROUTER]
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
    description="The catalog context, extracted from the monolith.",
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
# The published language: what the service consumes and records is validated against it.
STRANGLER_CONTRACTS = {"PACKAGES": ["shared_contracts"]}
# Who writes the context lives in the control database; until the first cutover the monolith
# does, and this service refuses writes with 409 until `manage.py cutover` moves them.
STRANGLER_OWNERSHIP = {
    "CONTEXTS": {
        "catalog": {
            "service": STRANGLER_SERVICE_NAME,
            "default_writer": "monolith",
        },
    },
}
BROKER_URL = broker_url_from_env()
# Celery (docs/howto/run-with-celery.md): the kit's tasks on a queue of their own.
globals().update(
    celery_settings(service_name=STRANGLER_SERVICE_NAME, broker_url=BROKER_URL, var_dir=VAR_DIR)
)
# STRANGLER_EXCHANGE / STRANGLER_BROKER_FOLDER: an exchange (or folder) of its own per stack.
STRANGLER_TRANSPORT = {
    **transport_from_env(),
    # Who may publish the other contexts' events this service subscribes to (the ownership
    # record above names the catalog's writers only): its queue binds their exchanges.
    "WRITERS": {"inventory": ["monolith", "inventory-service"], "orders": ["monolith"]},
}

# The events the handlers apply; <env_prefix>_INBOX_QUEUE and friends tune the queue.
STRANGLER_INBOX = inbox_settings(
    service_name=STRANGLER_SERVICE_NAME,
    env_prefix="CATALOG",
    handlers="extracted.catalog.catalog.handlers.HANDLERS",
    binding_keys=[
        "catalog.category.deleted",
        "catalog.category.upserted",
        "catalog.product.deleted",
        "catalog.product.upserted",
        # Who references a product (refuse its deletion like the monolith, docs/adr/0006).
        "inventory.stock.upserted",
        "orders.order.placed",
    ],
)
# What `manage.py setup_broker` declares: the same subscription the consumer reads.
STRANGLER_SUBSCRIPTIONS = [subscription_of(STRANGLER_INBOX)]

# What backfill, reconcile and cutover compare: the fields of each event's published schema,
# read from it like the monolith does, so both sides hash the same canonical rows.
STRANGLER_SYNC = {
    "CONTEXTS": {
        "catalog": {
            "category": {
                "model": "catalog.Category",
                "snapshot": "extracted.catalog.catalog.events.category_upserted_payload",
                "deleted_payload": "extracted.catalog.catalog.events.deleted_payload",
            },
            "product": {
                "model": "catalog.Product",
                "snapshot": "extracted.catalog.catalog.events.product_upserted_payload",
                "deleted_payload": "extracted.catalog.catalog.events.deleted_payload",
            },
        },
    },
    # The other side of the context (MONOLITH_URL), for reconcile and cutover run from here.
    "PEERS": peers_from_env({"catalog": "MONOLITH_URL"}),
}

LOGGING = logging_from_env(debug=DEBUG)
