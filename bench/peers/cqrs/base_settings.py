"""Settings both django-cqrs projects share: PostgreSQL from PEER_DATABASE_URL, RabbitMQ."""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = "benchmark-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": dj_database_url.parse(os.environ["PEER_DATABASE_URL"], conn_max_age=600)}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}


def cqrs_settings(queue: str | None = None) -> dict[str, object]:
    """The CQRS setting as django-cqrs's README shows it (RabbitMQTransport, host/port/user)."""
    from urllib.parse import urlsplit

    url = urlsplit(os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"))
    config: dict[str, object] = {
        "transport": "dj_cqrs.transport.RabbitMQTransport",
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5672,
        "user": url.username or "guest",
        "password": url.password or "guest",
        # One exchange per benchmark run, so concurrent runs never see each other's messages.
        "exchange": os.environ["PEER_EXCHANGE"],
    }
    if queue:
        config["queue"] = queue
    return config
