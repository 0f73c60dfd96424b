"""System checks for STRANGLER_TRANSPORT and STRANGLER_SUBSCRIPTIONS: misspellings fail loudly."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from strangler.transport.conf import DEFAULTS, QUEUE_TYPES
from strangler.transport.topology import TopologyError, validate_binding_key

SUBSCRIPTION_KEYS = {"subscriber", "queue", "binding_keys"}
SUPPORTED_SCHEMES = ("amqp", "pyamqp", "amqps", "filesystem")


@register()
def check_transport_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    configured = getattr(settings, "STRANGLER_TRANSPORT", {})
    if not isinstance(configured, dict):
        return [Error("STRANGLER_TRANSPORT must be a dict.", id="transport.E001")]
    errors = [
        Error(
            f"Unknown STRANGLER_TRANSPORT setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="transport.E002",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    queue_type = configured.get("QUEUE_TYPE", DEFAULTS["QUEUE_TYPE"])
    if queue_type not in QUEUE_TYPES:
        errors.append(
            Error(
                f"STRANGLER_TRANSPORT['QUEUE_TYPE'] is {queue_type!r}.",
                hint=f"Use one of: {', '.join(QUEUE_TYPES)}.",
                id="transport.E003",
            )
        )
    limit = configured.get("DELIVERY_LIMIT", DEFAULTS["DELIVERY_LIMIT"])
    if not isinstance(limit, int) or limit < 1:
        errors.append(
            Error(
                "STRANGLER_TRANSPORT['DELIVERY_LIMIT'] must be a positive integer.",
                id="transport.E004",
            )
        )
    for key in ("CONFIRM_TIMEOUT", "CONNECT_TIMEOUT"):
        value = configured.get(key, DEFAULTS[key])
        if not isinstance(value, int | float) or value <= 0:
            errors.append(
                Error(
                    f"STRANGLER_TRANSPORT[{key!r}] must be a positive number.", id="transport.E005"
                )
            )
    url = str(configured.get("URL") or getattr(settings, "BROKER_URL", "") or "filesystem://")
    scheme = url.split("://", 1)[0]
    if scheme not in SUPPORTED_SCHEMES:
        errors.append(
            Error(
                f"Broker URL scheme {scheme!r} is not supported.",
                hint="Use amqp://user:pass@host:5672/vhost (RabbitMQ) or filesystem:// (embedded).",
                id="transport.E006",
            )
        )
    errors.extend(_check_subscriptions())
    return errors


def _check_subscriptions() -> list[Error]:
    subscriptions = getattr(settings, "STRANGLER_SUBSCRIPTIONS", [])
    if not isinstance(subscriptions, list | tuple):
        return [Error("STRANGLER_SUBSCRIPTIONS must be a list of dicts.", id="transport.E010")]
    errors = []
    for index, item in enumerate(subscriptions):
        where = f"STRANGLER_SUBSCRIPTIONS[{index}]"
        if not isinstance(item, dict) or set(item) != SUBSCRIPTION_KEYS:
            errors.append(
                Error(
                    f"{where} must be a dict with exactly the keys "
                    f"{', '.join(sorted(SUBSCRIPTION_KEYS))}.",
                    id="transport.E011",
                )
            )
            continue
        keys = item["binding_keys"]
        if isinstance(keys, str) or not keys:
            errors.append(
                Error(f"{where}['binding_keys'] must be a non-empty list.", id="transport.E012")
            )
            continue
        for key in keys:
            try:
                validate_binding_key(key)
            except TopologyError as exc:
                errors.append(Error(f"{where}: {exc}", id="transport.E013"))
    return errors
