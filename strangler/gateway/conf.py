"""Settings of strangler.gateway, with their defaults, read in one place (STRANGLER_GATEWAY)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, object] = {
    # Routing table: a YAML file path, or "db" for the Route/Backend models. The command-line
    # option `rungateway --routes` wins over this.
    "ROUTES": "",
    # How often the routing source is checked for changes, in seconds (SIGHUP reloads at once).
    "RELOAD_INTERVAL": 2.0,
    # Host header values the gateway serves ("*" for any, ".example.com" for a domain and its
    # subdomains). Anything else is refused with 421: the gateway is not an open proxy.
    "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
    # Addresses or CIDR networks of proxies in front of the gateway whose X-Forwarded-* headers
    # are believed. Headers from anyone else are replaced, never passed on.
    "TRUSTED_PROXIES": [],
    # Pass the client's Host header to backends (True), or send the instance's own host:port.
    "PRESERVE_HOST": True,
    # Request bodies above this size are refused with 413.
    "MAX_BODY_BYTES": 10 * 1024 * 1024,
    # Limits on the request head, checked as it arrives (rungateway's HTTP protocol): the
    # request target (414), one header field, the whole head, the number of fields (431).
    # nginx allows 8 KiB a line and 32 KiB a head; Envoy 60 KiB a head and 100 fields.
    "MAX_REQUEST_LINE_BYTES": 8 * 1024,
    "MAX_HEADER_LINE_BYTES": 8 * 1024,
    "MAX_HEADER_BYTES": 64 * 1024,
    "MAX_HEADERS": 100,
    # Seconds a client has to send a whole request head, from the moment the connection opens
    # or the previous answer is sent: 408 if part of it came, the connection simply closed if
    # nothing did (nginx's client_header_timeout; Envoy's request_headers_timeout).
    "HEADER_TIMEOUT": 10.0,
    # Seconds the gateway waits for the next piece of a request body before it answers 408 and
    # closes (nginx's client_body_timeout: between two reads, not for the whole body).
    "BODY_TIMEOUT": 30.0,
    # Seconds an idle keep-alive connection is kept open between two requests.
    "KEEPALIVE_TIMEOUT": 15.0,
    # Open client connections at most; a connection over the bound is answered 503 and closed.
    "MAX_CONNECTIONS": 1000,
    # Requests in flight to one backend (all its instances) at most; more are answered 503 with
    # Retry-After at once rather than queued (Envoy's circuit breaker max_requests is 1024).
    "MAX_IN_FLIGHT": 1024,
    # Where a path no route matches goes: "monolith" (the strangler default), or "deny" (404).
    # Routes with `mode: deny` close single prefixes either way (e.g. the monolith's /admin/).
    "UNMATCHED": "monolith",
    # "host:port" of a listener of its own for /metrics and the admin API (/_gateway/status,
    # reload, instances), e.g. "127.0.0.1:9180". Empty: they stay on the main listener, where
    # /metrics answers a caller with the token or on a loopback address only.
    "ADMIN_LISTEN": "",
    # Request bodies up to this size are read before proxying so they can be retried, mirrored
    # and replayed for a canary fallback; larger ones are streamed.
    "BUFFER_BODY_BYTES": 64 * 1024,
    # Upper bound on a backend's status line plus headers.
    "MAX_RESPONSE_HEADER_BYTES": 64 * 1024,
    # Seconds to open a TCP connection to a backend instance before it counts as a failure.
    "CONNECT_TIMEOUT": 2.0,
    # Time until the backend's response head arrives, and between two body chunks.
    "READ_TIMEOUT": 30.0,
    # Retries of idempotent requests on connection errors (each on another instance if any).
    "RETRIES": 1,
    # Idle keep-alive connections kept per backend instance.
    "POOL_MAX_IDLE": 64,
    # Idle connections older than this are closed rather than reused (seconds).
    "POOL_IDLE_TIMEOUT": 30.0,
    # Active health checks: path, interval and timeout; interval 0 turns them off.
    "HEALTH_PATH": "/readyz",
    "HEALTH_INTERVAL": 2.0,
    "HEALTH_TIMEOUT": 1.0,
    # Passive health: this many consecutive failures take an instance out until an active check
    # (or, without active checks, EJECT_SECONDS) brings it back.
    "PASSIVE_FAILURES": 3,
    "EJECT_SECONDS": 10.0,
    # Circuit breaker per instance: opens after this many consecutive failures, stays open for
    # CIRCUIT_OPEN_SECONDS, then lets one trial request through (half-open).
    "CIRCUIT_FAILURES": 5,
    "CIRCUIT_OPEN_SECONDS": 5.0,
    # Load balancing when a backend does not choose: "round_robin" or "least_outstanding".
    "BALANCE": "round_robin",
    # Canary client key when a route does not choose: "header:NAME" or "cookie:NAME"; the
    # client address is used when the request has neither.
    "CLIENT_KEY": "header:X-Client-Id",
    # Shadow traffic: queue bound (full queue = dropped and counted), concurrent mirror workers,
    # the mirror's timeout, the largest response body compared, headers compared.
    "SHADOW_QUEUE_SIZE": 1000,
    "SHADOW_WORKERS": 4,
    "SHADOW_TIMEOUT": 10.0,
    "SHADOW_MAX_BODY_BYTES": 1024 * 1024,
    "SHADOW_COMPARE_HEADERS": ["content-type"],
    # Registration endpoint token (constant-time compared); empty turns the endpoint off.
    # The STRANGLER_GATEWAY_TOKEN environment variable wins over the setting.
    "REGISTRATION_TOKEN": "",
    # Registered instances that send no heartbeat for this long are dropped (seconds).
    "REGISTRATION_TTL": 30.0,
    # Seconds between reads of the writer of each routed context (`context:` on a route) from
    # the control database, in a background thread; requests use the last value read. Like
    # STRANGLER_OWNERSHIP['CACHE_TTL'] on the backends, it bounds how long writes may still go to
    # the old writer after a flip (the backends' guard refuses those, so nothing is written twice).
    "OWNERSHIP_REFRESH": 0.5,
    # Seconds a write may be held across a freeze: an unsafe request on a context's route that
    # meets `503 writes_frozen` (the gateway's own, or a backend's answer marked intended) waits
    # until a fresh read of the control database finds the writes open, then goes to the writer
    # as it is then. Only a body read whole (up to BUFFER_BODY_BYTES) can be held; the client
    # gets the 503 when the hold runs out. 0 answers every frozen write at once.
    "FREEZE_HOLD_SECONDS": 5.0,
}

BALANCE_POLICIES = ("round_robin", "least_outstanding")
UNMATCHED_CHOICES = ("monolith", "deny")


def parse_listen(value: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:port`) -> (host, port); ValueError when it is neither."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class GatewaySettings:
    """Process-wide gateway settings; per-route choices live in the routing table."""

    routes: str = ""
    reload_interval: float = 2.0
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    trusted_proxies: tuple[str, ...] = ()
    preserve_host: bool = True
    max_body_bytes: int = 10 * 1024 * 1024
    max_request_line_bytes: int = 8 * 1024
    max_header_line_bytes: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 15.0
    max_connections: int = 1000
    max_in_flight: int = 1024
    unmatched: str = "monolith"
    admin_listen: str = ""
    buffer_body_bytes: int = 64 * 1024
    max_response_header_bytes: int = 64 * 1024
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    retries: int = 1
    pool_max_idle: int = 64
    pool_idle_timeout: float = 30.0
    health_path: str = "/readyz"
    health_interval: float = 2.0
    health_timeout: float = 1.0
    passive_failures: int = 3
    eject_seconds: float = 10.0
    circuit_failures: int = 5
    circuit_open_seconds: float = 5.0
    balance: str = "round_robin"
    client_key: str = "header:X-Client-Id"
    shadow_queue_size: int = 1000
    shadow_workers: int = 4
    shadow_timeout: float = 10.0
    shadow_max_body_bytes: int = 1024 * 1024
    shadow_compare_headers: tuple[str, ...] = ("content-type",)
    registration_token: str = ""
    registration_ttl: float = 30.0
    ownership_refresh: float = 0.5
    freeze_hold_seconds: float = 5.0


def configured_values() -> dict[str, object]:
    """STRANGLER_GATEWAY, then the JSON object in STRANGLER_GATEWAY_OPTIONS over it."""
    configured = dict(getattr(settings, "STRANGLER_GATEWAY", {}) or {})
    raw = os.environ.get("STRANGLER_GATEWAY_OPTIONS", "").strip()
    if raw:
        try:
            overrides = json.loads(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"STRANGLER_GATEWAY_OPTIONS is not JSON: {exc}") from exc
        if not isinstance(overrides, dict):
            raise ImproperlyConfigured("STRANGLER_GATEWAY_OPTIONS must be a JSON object.")
        configured.update(overrides)
    return configured


def gateway_settings() -> GatewaySettings:
    """Configured values over DEFAULTS; STRANGLER_GATEWAY_TOKEN sets the token."""
    values = {**DEFAULTS, **configured_values()}
    token = os.environ.get("STRANGLER_GATEWAY_TOKEN") or str(values["REGISTRATION_TOKEN"])
    return GatewaySettings(
        routes=str(values["ROUTES"]),
        reload_interval=float(values["RELOAD_INTERVAL"]),
        allowed_hosts=tuple(str(h).lower() for h in values["ALLOWED_HOSTS"]),
        trusted_proxies=tuple(str(p) for p in values["TRUSTED_PROXIES"]),
        preserve_host=bool(values["PRESERVE_HOST"]),
        max_body_bytes=int(values["MAX_BODY_BYTES"]),
        max_request_line_bytes=int(values["MAX_REQUEST_LINE_BYTES"]),
        max_header_line_bytes=int(values["MAX_HEADER_LINE_BYTES"]),
        max_header_bytes=int(values["MAX_HEADER_BYTES"]),
        max_headers=int(values["MAX_HEADERS"]),
        header_timeout=float(values["HEADER_TIMEOUT"]),
        body_timeout=float(values["BODY_TIMEOUT"]),
        keepalive_timeout=float(values["KEEPALIVE_TIMEOUT"]),
        max_connections=int(values["MAX_CONNECTIONS"]),
        max_in_flight=int(values["MAX_IN_FLIGHT"]),
        unmatched=str(values["UNMATCHED"]),
        admin_listen=str(values["ADMIN_LISTEN"]),
        buffer_body_bytes=int(values["BUFFER_BODY_BYTES"]),
        max_response_header_bytes=int(values["MAX_RESPONSE_HEADER_BYTES"]),
        connect_timeout=float(values["CONNECT_TIMEOUT"]),
        read_timeout=float(values["READ_TIMEOUT"]),
        retries=int(values["RETRIES"]),
        pool_max_idle=int(values["POOL_MAX_IDLE"]),
        pool_idle_timeout=float(values["POOL_IDLE_TIMEOUT"]),
        health_path=str(values["HEALTH_PATH"]),
        health_interval=float(values["HEALTH_INTERVAL"]),
        health_timeout=float(values["HEALTH_TIMEOUT"]),
        passive_failures=int(values["PASSIVE_FAILURES"]),
        eject_seconds=float(values["EJECT_SECONDS"]),
        circuit_failures=int(values["CIRCUIT_FAILURES"]),
        circuit_open_seconds=float(values["CIRCUIT_OPEN_SECONDS"]),
        balance=str(values["BALANCE"]),
        client_key=str(values["CLIENT_KEY"]),
        shadow_queue_size=int(values["SHADOW_QUEUE_SIZE"]),
        shadow_workers=int(values["SHADOW_WORKERS"]),
        shadow_timeout=float(values["SHADOW_TIMEOUT"]),
        shadow_max_body_bytes=int(values["SHADOW_MAX_BODY_BYTES"]),
        shadow_compare_headers=tuple(str(h).lower() for h in values["SHADOW_COMPARE_HEADERS"]),
        registration_token=token,
        registration_ttl=float(values["REGISTRATION_TTL"]),
        ownership_refresh=float(values["OWNERSHIP_REFRESH"]),
        freeze_hold_seconds=float(values["FREEZE_HOLD_SECONDS"]),
    )
