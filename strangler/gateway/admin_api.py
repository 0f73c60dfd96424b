"""The gateway's own endpoints as an ASGI app: health, metrics and the admin API.

On the main listener it answers the public probes (/healthz, /_gateway/readyz); /metrics only to
a caller with the token or on a loopback address, and the admin API (/_gateway/status, reload,
instances) only with the token. With ADMIN_LISTEN set, metrics and the admin API move to a
listener of their own (served by `rungateway`), where /metrics needs no token and the admin API
still does; the main listener then answers 404 for them.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from strangler.gateway.registry import UnknownBackendError
from strangler.gateway.routing import MONOLITH, RoutingConfigError

if TYPE_CHECKING:
    from strangler.gateway.app import GatewayApp

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
PUBLIC_PATHS = frozenset({"/healthz", "/_gateway/readyz"})
_REGISTRATION_MAX_BYTES = 64 * 1024


def is_gateway_path(path: str) -> bool:
    """Whether the path is one of the gateway's own (never proxied to a backend)."""
    return path.startswith("/_gateway/") or path in ("/healthz", "/metrics")


class AdminApi:
    """The gateway's endpoints; `separate` when it serves a listener of its own."""

    def __init__(self, gateway: GatewayApp, *, separate: bool = False) -> None:
        self.gateway = gateway
        self.separate = separate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the main app owns start and stop
            while True:
                if (await receive())["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if not self.gateway.started:
            await self.gateway.start()
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        gateway = self.gateway
        moved = bool(gateway.settings.admin_listen) and not self.separate
        if path == "/healthz":
            await send_json(send, 200, {"status": "ok"})
        elif path == "/_gateway/readyz":
            monolith = gateway.registry.backends.get(MONOLITH)
            now = gateway.registry.clock()
            ready = bool(monolith and any(i.available(now) for i in monolith.instances))
            await send_json(
                send, 200 if ready else 503, {"status": "ok" if ready else "unavailable"}
            )
        elif moved:
            await send_error(send, 404, "not_found", "Served on the gateway's admin listener.")
        elif path == "/metrics":
            if self.separate or self._authorised(scope) or self._local(scope):
                await self._metrics(send)
            else:
                await send_error(send, 401, "unauthorised", "A valid bearer token is required.")
        elif not self._authorised(scope):
            await send_error(send, 401, "unauthorised", "A valid bearer token is required.")
        elif path == "/_gateway/status" and method == "GET":
            await send_json(send, 200, gateway.status())
        elif path == "/_gateway/reload" and method == "POST":
            await send_json(send, 200, {"reloaded": await gateway.reload()})
        elif path == "/_gateway/instances" and method in ("POST", "DELETE"):
            await self._registration(method, receive, send)
        else:
            await send_error(send, 404, "not_found", "No such gateway endpoint.")

    async def _metrics(self, send: Send) -> None:
        body = generate_latest(self.gateway.metrics.registry)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, scope: Scope) -> bool:
        token = self.gateway.settings.registration_token
        if not token:
            return False
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    given.strip(), token.encode()
                )
        return False

    def _local(self, scope: Scope) -> bool:
        """The peer is this machine, and not a trusted proxy relaying others' requests."""
        client = scope.get("client")
        if not client or self.gateway.trusted.trusts(client[0]):
            return False
        try:
            return ipaddress.ip_address(client[0]).is_loopback
        except ValueError:
            return False

    async def _registration(self, method: str, receive: Receive, send: Send) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if len(raw) > _REGISTRATION_MAX_BYTES:
                await send_error(send, 413, "too_large", "Registration body too large.")
                return
            if not message.get("more_body", False):
                break
        try:
            data = json.loads(raw or b"{}")
            backend, url = str(data["backend"]), str(data["url"])
            ttl = float(data["ttl"]) if data.get("ttl") is not None else None
        except (ValueError, KeyError, TypeError):
            await send_error(
                send,
                400,
                "invalid",
                'Send JSON {"backend": NAME, "url": "http://host:port", "ttl": SECONDS}.',
            )
            return
        registry = self.gateway.registry
        if method == "DELETE":
            removed = registry.deregister(backend, url)
            await send_json(send, 200 if removed else 404, {"removed": removed})
            return
        try:
            instance = registry.register(backend, url, ttl)
        except (UnknownBackendError, RoutingConfigError) as exc:
            await send_error(send, 400, "invalid", str(exc))
            return
        registry.on_change(instance)
        await send_json(send, 200, {"backend": backend, "instance": instance.to_dict()})


async def send_json(send: Send, status: int, data: Any) -> None:
    body = json.dumps(data, default=str).encode()
    headers = [*JSON_HEADERS, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    retry_after: int | None = None,
    close: bool = False,
) -> None:
    """The kit's error shape; `close` ends the connection (the request body was not read)."""
    body = json.dumps({"error": {"code": code, "message": message, "fields": {}}}).encode()
    headers = [*JSON_HEADERS, (b"content-length", b"%d" % len(body))]
    if retry_after is not None:
        headers.append((b"retry-after", b"%d" % retry_after))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
