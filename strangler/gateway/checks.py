"""System checks for STRANGLER_GATEWAY: misspelt or out-of-range settings fail loudly."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from strangler.gateway.conf import (
    BALANCE_POLICIES,
    DEFAULTS,
    UNMATCHED_CHOICES,
    configured_values,
    parse_listen,
)
from strangler.gateway.routing import ClientKeyError, parse_client_key

_POSITIVE_NUMBERS = (
    "MAX_BODY_BYTES",
    "MAX_REQUEST_LINE_BYTES",
    "MAX_HEADER_LINE_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_HEADERS",
    "HEADER_TIMEOUT",
    "BODY_TIMEOUT",
    "KEEPALIVE_TIMEOUT",
    "MAX_CONNECTIONS",
    "MAX_IN_FLIGHT",
    "BUFFER_BODY_BYTES",
    "MAX_RESPONSE_HEADER_BYTES",
    "CONNECT_TIMEOUT",
    "READ_TIMEOUT",
    "POOL_MAX_IDLE",
    "HEALTH_TIMEOUT",
    "PASSIVE_FAILURES",
    "CIRCUIT_FAILURES",
    "SHADOW_QUEUE_SIZE",
    "SHADOW_WORKERS",
    "SHADOW_TIMEOUT",
    "REGISTRATION_TTL",
    "OWNERSHIP_REFRESH",
)


@register()
def check_gateway_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if not isinstance(getattr(settings, "STRANGLER_GATEWAY", {}), dict):
        return [Error("STRANGLER_GATEWAY must be a dict.", id="gateway.E001")]
    try:
        configured = configured_values()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="gateway.E001")]
    errors = [
        Error(
            f"Unknown STRANGLER_GATEWAY setting {key!r}.",
            hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
            id="gateway.E002",
        )
        for key in sorted(set(configured) - set(DEFAULTS))
    ]
    values = {**DEFAULTS, **configured}
    for key in _POSITIVE_NUMBERS:
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(
                Error(f"STRANGLER_GATEWAY[{key!r}] must be a positive number.", id="gateway.E003")
            )
    hold = values["FREEZE_HOLD_SECONDS"]
    if isinstance(hold, bool) or not isinstance(hold, int | float) or hold < 0:
        errors.append(
            Error(
                "STRANGLER_GATEWAY['FREEZE_HOLD_SECONDS'] must be a number of seconds, 0 or more.",
                id="gateway.E003",
            )
        )
    if values["BALANCE"] not in BALANCE_POLICIES:
        errors.append(
            Error(
                f"STRANGLER_GATEWAY['BALANCE'] is {values['BALANCE']!r}.",
                hint=f"Use one of {', '.join(BALANCE_POLICIES)}.",
                id="gateway.E004",
            )
        )
    for proxy in values["TRUSTED_PROXIES"]:
        try:
            ipaddress.ip_network(str(proxy), strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"STRANGLER_GATEWAY['TRUSTED_PROXIES'] has {proxy!r}, not an address or CIDR.",
                    id="gateway.E005",
                )
            )
    if values["UNMATCHED"] not in UNMATCHED_CHOICES:
        errors.append(
            Error(
                f"STRANGLER_GATEWAY['UNMATCHED'] is {values['UNMATCHED']!r}.",
                hint=f"Use one of {', '.join(UNMATCHED_CHOICES)}.",
                id="gateway.E007",
            )
        )
    if values["ADMIN_LISTEN"]:
        try:
            parse_listen(str(values["ADMIN_LISTEN"]))
        except ValueError as exc:
            errors.append(
                Error(
                    f"STRANGLER_GATEWAY['ADMIN_LISTEN']: {exc}.",
                    hint="Give host:port, e.g. 127.0.0.1:9180, or leave it empty.",
                    id="gateway.E008",
                )
            )
    try:
        parse_client_key(str(values["CLIENT_KEY"]))
    except ClientKeyError as exc:
        errors.append(Error(str(exc), id="gateway.E006"))
    return errors
