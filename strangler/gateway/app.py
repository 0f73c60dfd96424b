"""The gateway's ASGI application: plain async code on the hot path, no Django request handling."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import math
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

from strangler.gateway.admin_api import AdminApi, is_gateway_path, send_error
from strangler.gateway.client import (
    SHORT_BODY_BYTES,
    Connection,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
    await_response,
    request_head,
    send_request,
)
from strangler.gateway.compare import CapturedResponse
from strangler.gateway.conf import GatewaySettings
from strangler.gateway.headers import (
    CORRELATION_HEADER,
    TrustedProxies,
    client_fields,
    host_allowed,
    relayable_head,
)
from strangler.gateway.inspection import GatewayRefusal, ProxiedRequest, inspect_request
from strangler.gateway.metrics import GatewayMetrics
from strangler.gateway.ownership import OwnershipReader, OwnershipWatcher
from strangler.gateway.registry import (
    UNAVAILABLE_STATUSES,
    Instance,
    Lease,
    Registry,
    counts_as_failure,
    is_intended,
)
from strangler.gateway.routing import (
    DENY,
    DENY_UNMATCHED,
    IDEMPOTENT_METHODS,
    MONOLITH,
    SAFE_METHODS,
    Route,
    RoutingConfigError,
    RoutingTable,
    WriteDecision,
    goes_to_service,
    parse_client_key,
    write_decision,
)
from strangler.gateway.shadow import ShadowJob, ShadowMirror, ShadowRecorder, ShadowResult
from strangler.gateway.sources import RoutingSource

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class ClientDisconnected(Exception):
    """The client went away while its request body was being read."""


class NoInstanceAvailable(UpstreamError):
    """Every instance of the backend is unhealthy or behind an open breaker."""


class GatewayApp:
    """The strangler facade. Serve it with any ASGI server; `rungateway` uses uvicorn."""

    # GatewayHttpProtocol may call it without uvicorn's request cycle (server.py, ADR 0014).
    serves_direct: ClassVar[bool] = True

    def __init__(
        self,
        settings: GatewaySettings,
        source: RoutingSource,
        *,
        write_shadow_results: Callable[[list[ShadowResult]], None] | None = None,
        ownership_reader: OwnershipReader | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.metrics = GatewayMetrics()
        # Writers of the contexts routes name: read in a thread, looked up from memory per request.
        self.ownership = OwnershipWatcher(
            ownership_reader, interval=settings.ownership_refresh, metrics=self.metrics
        )
        self.registry = Registry(settings)
        self.registry.on_change = self._instance_changed
        self.registry.on_transition = self._instance_transition
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self._default_client_key = parse_client_key(settings.client_key)
        self.table: RoutingTable | None = None
        self._write_shadow_results = write_shadow_results
        self._recorder: ShadowRecorder | None = None
        self._mirror: ShadowMirror | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_now = asyncio.Event()
        self._hosts: dict[bytes, bool] = {}
        # The request's head checked against this gateway's settings (a partial: no frame).
        self._inspect: Callable[[Scope], ProxiedRequest] = functools.partial(
            inspect_request,
            max_body_bytes=settings.max_body_bytes,
            host_allowed=self._host_allowed,
            trusted=self.trusted or None,  # None when no proxy is trusted: no call to ask
        )
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self.admin = AdminApi(self)

    @property
    def started(self) -> bool:
        return self._started

    def admin_listener(self) -> AdminApi:
        """The ASGI app of the admin listener (ADMIN_LISTEN): metrics and the admin API."""
        return AdminApi(self, separate=True)

    # -- ASGI entry point ----------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if not self._started:
                await self.start()
            await self.handle(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except RoutingConfigError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- start, stop, reload -------------------------------------------------------------------
    async def start(self) -> None:
        """Load the routing table, start health checks, reloads and the shadow workers."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            table = await asyncio.to_thread(self.source.load)
            self.ownership.check(table)
            self.ownership.track(table.contexts)
            await self.ownership.refresh()  # before the first request: the writers as they are
            self._apply(table)
            self.metrics.reloads.labels("ok").inc()
            if self._write_shadow_results is not None:
                self._recorder = ShadowRecorder(
                    self._write_shadow_results,
                    capacity=self.settings.shadow_queue_size * 4,
                    metrics=self.metrics,
                )
                self._recorder.start()
            self._mirror = ShadowMirror(
                send=self._send_shadow,
                sink=self._recorder.put if self._recorder else self._log_shadow_result,
                metrics=self.metrics,
                queue_size=self.settings.shadow_queue_size,
                workers=self.settings.shadow_workers,
                compare_headers=self.settings.shadow_compare_headers,
            )
            self._mirror.start()
            self._tasks = [
                asyncio.create_task(self._reload_loop(), name="gateway-reload"),
                asyncio.create_task(self._maintenance_loop(), name="gateway-maintenance"),
                asyncio.create_task(self.ownership.run(), name="gateway-ownership"),
            ]
            if self.settings.health_interval > 0:
                await self.registry.check_all()
                self._tasks.append(asyncio.create_task(self._health_loop(), name="gateway-health"))
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._reload_now.set)
            self._started = True
            logger.info(
                "gateway ready",
                extra={"routes": len(table.routes), "source": self.source.description},
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._mirror is not None:
            await self._mirror.stop()
        if self._recorder is not None:
            await asyncio.to_thread(self._recorder.stop)
        self.registry.close()
        await self.ownership.close()
        self._started = False

    def _apply(self, table: RoutingTable) -> None:
        if self.settings.unmatched == DENY:
            table = dataclasses.replace(table, unmatched=DENY_UNMATCHED)
        self.registry.apply_table(table)
        self.table = table
        for backend in self.registry.backends.values():
            for instance in backend.instances:
                self._instance_changed(instance)
                # Zero from the start, so that "never ejected" reads as a 0, not as no series.
                self.metrics.ejections.labels(instance.backend, instance.url)
                self.metrics.circuit_opened.labels(instance.backend, instance.url)

    async def reload(self) -> bool:
        """Re-read the routing source; a broken table is logged and the old one kept."""
        try:
            table = await asyncio.to_thread(self.source.load)
            if self.table is not None and table.fingerprint == self.table.fingerprint:
                return False
            self.ownership.check(table)
        except RoutingConfigError as exc:
            logger.error("routing table not reloaded: %s", exc)
            self.metrics.reloads.labels("error").inc()
            return False
        if table.contexts != self.ownership.tracked:
            self.ownership.track(table.contexts)
            await self.ownership.refresh()  # a newly routed context is read before it is used
        self._apply(table)
        self.metrics.reloads.labels("ok").inc()
        logger.info("routing table reloaded", extra={"routes": len(table.routes)})
        return True

    async def _reload_loop(self) -> None:
        interval = self.settings.reload_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval if interval > 0 else None):
                    await self._reload_now.wait()
            forced = self._reload_now.is_set()
            self._reload_now.clear()
            if forced or self.source.changed():
                await self.reload()

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_interval)
            await self.registry.check_all()

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.registry.expire()
            if self.settings.health_interval <= 0:
                self.registry.readmit_expired_ejections()

    def _instance_transition(self, instance: Instance, event: str) -> None:
        counter = self.metrics.ejections if event == "ejected" else self.metrics.circuit_opened
        counter.labels(instance.backend, instance.url).inc()

    def _instance_changed(self, instance: Instance) -> None:
        self.metrics.circuit.labels(instance.backend, instance.url).set(int(instance.breaker.state))
        self.metrics.healthy.labels(instance.backend, instance.url).set(int(instance.healthy))

    # -- the hot path --------------------------------------------------------------------------
    async def handle(
        self, scope: Scope, receive: Receive, send: Send, *, express: _Express | None = None
    ) -> None:
        """One request, start to end; or, with `express`, the rest of one the express lane
        began (its request sent, its answer not whole: `answer_direct`)."""
        path: str = scope["path"]
        if express is not None:
            started = express.started
        else:
            started = time.perf_counter()
            if is_gateway_path(path):
                await self.admin.handle(scope, receive, send)
                return
        route_name, target, status = "none", "gateway", 500
        try:
            if express is not None:
                route_name, target = express.route_name, express.backend
                lease, response = await self._exchange(target, express.request, b"", sent=express)
                status = await self._relay(lease, response, express.request, send)
            else:
                request = self._inspect(scope)
                route = self.table.match(request.method, path)  # type: ignore[union-attr]
                route_name = route.name
                target, status = await self._route(route, request, scope, receive, send)
        except GatewayRefusal as refusal:
            status = refusal.status
            await send_error(
                send,
                refusal.status,
                refusal.code,
                refusal.message,
                retry_after=refusal.retry_after,
                close=refusal.close,
            )
        except ClientDisconnected:
            status = 499
        except UpstreamError as exc:
            # The backend failed after the response started: the client sees a cut-off answer.
            logger.warning("response to %s cut off: %s", path, exc)
            status = 502
        self._count(route_name, target, status, time.perf_counter() - started)

    # -- the express lane (ADR 0014) -----------------------------------------------------------
    def answer_direct(self, cycle: Any) -> bool:
        """Take a plain request on the express lane; False: the caller runs `handle` in a task.

        Plain: no body, one backend to send it to (no write decision, hold, canary fallback or
        mirror), and an idle pooled connection to the instance picked. The request is sent from
        this callback and answered from the connection's (`_Express`), with no task, future or
        coroutine (3-14% less CPU per request than the task path, ADR 0014). What the lane does
        not finish itself goes on in `handle` from where it stopped.
        """
        if not self._started:
            return False
        started = time.perf_counter()
        scope = cycle.scope
        try:
            request = self._inspect(scope)
        except GatewayRefusal:
            return False  # answered by `handle`, which refuses it again
        if request.has_body:
            return False
        route = self.table.match(request.method, scope["path"])  # type: ignore[union-attr]
        if route.mode == DENY or (
            route.context is not None
            and write_decision(route, request.method, self.ownership.get(route.context)) is not None
        ):
            return False
        target = self._backend_for(route, request, scope)
        backend = self.registry.backends.get(target) if target is not None else None
        if backend is None or (
            sum([i.outstanding for i in backend.instances]) >= self.settings.max_in_flight
        ):
            return False
        now = self.registry.clock()
        instance = backend.pick(now)
        conn = instance.pool.take() if instance is not None else None
        if conn is None:
            return False  # opening a connection awaits: `handle` does it
        assert instance is not None and target is not None
        instance.breaker.on_send(now)
        express = _Express(self, cycle, request, route.name, target, instance, conn, started)
        express.send()
        return True

    def _deliver(self, express: _Express, body: bytes) -> None:
        """The express lane's answer: what `_relay` does with a short body, without awaiting."""
        status = express.status
        fields = express.fields
        fields += (CORRELATION_HEADER, b": ", express.request.correlation_id, b"\r\n")
        express.cycle.answer_relayed(status, fields, body)
        self._finish(express.lease, status)  # no status that `counts_as_failure` looks at
        elapsed = time.perf_counter() - express.started
        self._count(express.route_name, express.backend, status, elapsed)

    def _client_headers(self, headers: Headers, request: ProxiedRequest) -> Headers:
        """A backend's fields as the client gets them: hop-by-hop fields and the backend's
        correlation id out, the request's in."""
        kept = client_fields(headers)
        kept.append((CORRELATION_HEADER, request.correlation_id))
        return kept

    def _count(self, route: str, target: str, status: int, elapsed: float) -> None:
        self.metrics.requests.count(route, target, status, elapsed)

    def _host_allowed(self, host: bytes) -> bool:
        allowed = self._hosts.get(host)
        if allowed is None:
            allowed = (
                host_allowed(host.decode("latin-1"), self.settings.allowed_hosts) if host else False
            )
            if len(self._hosts) < 1024:
                self._hosts[host] = allowed
        return allowed

    async def _route(
        self, route: Route, request: ProxiedRequest, scope: Scope, receive: Receive, send: Send
    ) -> tuple[str, int]:
        if route.mode == DENY:
            code = "forbidden" if route.status == 403 else "not_found"
            raise GatewayRefusal(
                route.status, code, "Not served through this gateway.", close=request.has_body
            )
        if route.context is not None:
            decision = write_decision(route, request.method, self.ownership.get(route.context))
            if decision is not None:  # an unsafe method: the context's writer, whatever the mode
                return await self._write(route, route.context, decision, request, receive, send)
        backend = self._backend_for(route, request, scope)
        if backend is not None:
            return backend, await self._proxy(backend, request, receive, send)
        if route.mode == "canary":
            return await self._canary_with_fallback(route, request, receive, send)
        # shadow: the monolith answers; the service sees a copy later
        return MONOLITH, await self._proxy(MONOLITH, request, receive, send, shadow=route)

    def _backend_for(self, route: Route, request: ProxiedRequest, scope: Scope) -> str | None:
        """The one backend a read (or a write with no decision to make) goes to; None for a
        canary read bound for the service (it falls back) and a mirrored shadow request."""
        mode = route.mode
        if mode == "monolith" or route.service is None:
            return MONOLITH
        if mode == "service":
            return route.service
        if mode == "canary":
            if not goes_to_service(route, self._client_key(route, request, scope)):
                return MONOLITH
            return route.service if request.method not in SAFE_METHODS else None
        return None if route.mirrors(request.method) else MONOLITH

    async def _write(
        self,
        route: Route,
        context: str,
        decision: WriteDecision,
        request: ProxiedRequest,
        receive: Receive,
        send: Send,
    ) -> tuple[str, int]:
        """An unsafe request on a context's route: to the context's writer.

        Across a freeze (the gateway's own `writes_frozen`, or a backend's intended 503) a body
        read whole is held until a read of the control database begun after the refusal finds
        the writes open; the writer is then resolved again (the cutover may have moved it) and
        the request sent there, for at most FREEZE_HOLD_SECONDS.
        """
        if self.settings.freeze_hold_seconds <= 0:
            if decision.backend is None:
                raise self._write_refusal(context, decision)
            return decision.backend, await self._proxy(decision.backend, request, receive, send)
        body, complete = await self._read_body(request, receive)
        if not complete:  # a body that cannot be replayed cannot be held
            if decision.backend is None:
                raise self._write_refusal(context, decision, close=True)
            payload = self._stream_rest(body, receive)
            lease, response = await self._exchange(decision.backend, request, payload)
            return decision.backend, await self._relay(lease, response, request, send)
        deadline = time.monotonic() + self.settings.freeze_hold_seconds
        since = -math.inf  # the gateway's own refusal: any read showing open writes is newer
        held = False
        while True:
            if decision.backend is None:
                if decision.code != "writes_frozen":
                    raise self._write_refusal(context, decision)
                held = True
                if not await self._hold(context, since, deadline, receive):
                    self.metrics.held_writes.labels(context, "expired").inc()
                    raise self._write_refusal(context, decision)
                decision = self._decide_again(route, context, request)
                continue
            backend = decision.backend
            lease, response = await self._exchange(backend, request, body)
            if not _holdable(response) or time.monotonic() >= deadline:
                status = await self._relay(lease, response, request, send)
                if held:
                    self.metrics.held_writes.labels(context, "sent").inc()
                return backend, status
            # The backend's intended 503 (its view of the freeze is newer than the gateway's):
            # kept, to be answered if the hold runs out.
            try:
                answer = await response.read()
            except UpstreamError:
                self._finish(lease, 502)
                raise
            self._finish(lease, response.status, response.headers)
            held, since = True, time.monotonic()
            if not await self._hold(context, since, deadline, receive):
                self.metrics.held_writes.labels(context, "expired").inc()
                await self._answer(response.status, response.headers, answer, request, send)
                return backend, response.status
            decision = self._decide_again(route, context, request)

    async def _hold(self, context: str, since: float, deadline: float, receive: Receive) -> bool:
        """Wait until a read begun at or after `since` finds the context's writes open: True,
        or False when the deadline passes first; ClientDisconnected when the client leaves."""
        opened = asyncio.ensure_future(
            self.ownership.wait_until_open(context, since=since, deadline=deadline)
        )
        gone = asyncio.ensure_future(_client_gone(receive))
        holding = self.metrics.holding.labels(context)
        holding.inc()
        try:
            await asyncio.wait((opened, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            holding.dec()
            opened.cancel()
            gone.cancel()
        if gone.done() and not gone.cancelled():
            self.metrics.held_writes.labels(context, "client_gone").inc()
            raise ClientDisconnected()
        return opened.done() and not opened.cancelled() and opened.result() is not None

    def _decide_again(self, route: Route, context: str, request: ProxiedRequest) -> WriteDecision:
        """The writer as the gateway knows it now (a held write follows the cutover)."""
        decision = write_decision(route, request.method, self.ownership.get(context))
        assert decision is not None  # an unsafe method on a route with a context
        return decision

    def _write_refusal(
        self, context: str, decision: WriteDecision, *, close: bool = False
    ) -> GatewayRefusal:
        if decision.code == "writes_frozen":
            self.metrics.writes_frozen.labels(context).inc()
        return GatewayRefusal(
            decision.status,
            decision.code,
            decision.message,
            retry_after=decision.retry_after,
            close=close,
        )

    async def _answer(
        self, status: int, headers: Headers, body: bytes, request: ProxiedRequest, send: Send
    ) -> None:
        """A backend's answer kept in memory, sent to the client as the backend gave it."""
        kept = self._client_headers(headers, request)
        await send({"type": "http.response.start", "status": status, "headers": kept})
        await send({"type": "http.response.body", "body": body})

    def _client_key(self, route: Route, request: ProxiedRequest, scope: Scope) -> str:
        key = route.client_key or self._default_client_key
        if key.kind == "header":
            wanted = key.name.encode("latin-1")
            for name, value in scope["headers"]:
                if name == wanted and value:
                    return value.decode("latin-1")
        elif request.cookie:
            for part in request.cookie.decode("latin-1").split(";"):
                name, _, value = part.strip().partition("=")
                if name == key.name and value:
                    return value
        return request.client

    async def _read_body(self, request: ProxiedRequest, receive: Receive) -> tuple[bytes, bool]:
        """Read up to BUFFER_BODY_BYTES of the body: (bytes read, whether that is all of it)."""
        if not request.has_body:
            return b"", True
        limit = self.settings.buffer_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return b"", False
        parts: list[bytes] = []
        size = 0
        while True:
            message = await self._receive_body(receive)
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            if chunk:
                parts.append(chunk)
                size += len(chunk)
            if not message.get("more_body", False):
                break
            if size > limit:
                return b"".join(parts), False
        body = b"".join(parts)
        if len(body) > self.settings.max_body_bytes:
            raise GatewayRefusal(
                413, "too_large", f"Body over {self.settings.max_body_bytes} bytes."
            )
        return body, True

    async def _stream_rest(self, prefix: bytes, receive: Receive) -> AsyncIterator[bytes]:
        """The body beyond what was buffered, checked against MAX_BODY_BYTES as it streams."""
        size = len(prefix)
        if prefix:
            yield prefix
        while True:
            message = await self._receive_body(receive)
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                raise GatewayRefusal(
                    413, "too_large", f"Body over {self.settings.max_body_bytes} bytes."
                )
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    async def _receive_body(self, receive: Receive) -> dict[str, Any]:
        """The next piece of the request body, or 408 when it takes over BODY_TIMEOUT."""
        try:
            async with asyncio.timeout(self.settings.body_timeout):
                return await receive()
        except TimeoutError:
            raise GatewayRefusal(
                408, "body_timeout", "The request body stopped arriving.", close=True
            ) from None

    def _upstream_headers(self, request: ProxiedRequest, instance_host: bytes) -> Headers:
        host = request.host if self.settings.preserve_host and request.host else instance_host
        return [(b"host", host), *request.headers]

    async def _proxy(
        self,
        backend: str,
        request: ProxiedRequest,
        receive: Receive,
        send: Send,
        *,
        shadow: Route | None = None,
    ) -> int:
        if request.has_body:
            body, complete = await self._read_body(request, receive)
        else:
            body, complete = b"", True
        payload: bytes | AsyncIterator[bytes] = (
            body if complete else self._stream_rest(body, receive)
        )
        lease, response = await self._exchange(backend, request, payload)
        return await self._relay(
            lease, response, request, send, shadow=shadow, body=body if complete else None
        )

    async def _canary_with_fallback(
        self, route: Route, request: ProxiedRequest, receive: Receive, send: Send
    ) -> tuple[str, int]:
        assert route.service is not None
        body, complete = await self._read_body(request, receive)
        if not complete:  # a body we cannot replay: no fallback possible
            payload = self._stream_rest(body, receive)
            lease, response = await self._exchange(route.service, request, payload)
            return route.service, await self._relay(lease, response, request, send)
        try:
            lease, response = await self._exchange(route.service, request, body)
        except GatewayRefusal as refusal:
            logger.warning("canary falls back to the monolith: %s", refusal.message)
        else:
            if response.status < 500:
                return route.service, await self._relay(lease, response, request, send)
            response.discard()
            self._finish(lease, response.status, response.headers)
            logger.warning(
                "canary falls back to the monolith: service answered %s", response.status
            )
        self.metrics.fallbacks.labels(route.name).inc()
        lease, response = await self._exchange(MONOLITH, request, body)
        return MONOLITH, await self._relay(lease, response, request, send)

    async def _exchange(
        self,
        backend_name: str,
        request: ProxiedRequest,
        body: bytes | AsyncIterator[bytes],
        *,
        read_timeout: float | None = None,
        retries: int | None = None,
        sent: _Express | None = None,
    ) -> tuple[Lease, UpstreamResponse]:
        """Send to a healthy instance, retrying connection errors where that is safe.

        `sent`: the express lane's first attempt, its request already on the wire."""
        backend = self.registry.backends.get(backend_name)
        if backend is None and sent is None:
            raise GatewayRefusal(502, "bad_gateway", f"Backend {backend_name} is not configured.")
        if sent is None and (
            sum([i.outstanding for i in backend.instances])  # type: ignore[union-attr]
            >= self.settings.max_in_flight
        ):
            self.metrics.upstream_errors.labels(backend_name, "Overloaded").inc()
            raise GatewayRefusal(
                503,
                "overloaded",
                f"{backend_name} has {self.settings.max_in_flight} requests in flight.",
                retry_after=1,
                close=request.has_body,
            )
        replayable = isinstance(body, bytes)
        attempts = 1 + (
            (self.settings.retries if retries is None else retries) if replayable else 0
        )
        tried: list[Instance] = []
        error: UpstreamError = NoInstanceAvailable(f"no healthy instance of {backend_name}")
        for _ in range(attempts):
            if sent is not None:
                instance, lease = sent.instance, sent.lease
            else:
                if backend is None:
                    break
                now = self.registry.clock()
                instance = backend.pick(now, tried) or (backend.pick(now) if tried else None)
                if instance is None:
                    break
                instance.breaker.on_send(now)
                lease = instance.lease()
            try:
                if sent is not None:
                    express, sent = sent, None
                    response = await express.response()
                else:
                    response = await send_request(
                        instance.pool,
                        request.method,
                        request.target,
                        self._upstream_headers(request, instance.host_header),
                        body,
                        read_timeout=read_timeout or self.settings.read_timeout,
                        content_length=request.content_length,
                    )
            except UpstreamError as exc:
                lease.release()
                error = exc
                stale = exc.request_not_sent and isinstance(exc, UpstreamDisconnected)
                if not stale:  # a pooled connection the backend had just closed is no failure
                    self.registry.record(instance, failed=True)
                self.metrics.upstream_errors.labels(backend_name, type(exc).__name__).inc()
                retry = isinstance(exc, UpstreamConnectError | UpstreamDisconnected) and (
                    request.method in IDEMPOTENT_METHODS or exc.request_not_sent
                )
                if not (retry and replayable):
                    break
                tried.append(instance)
                self.metrics.retries.labels(backend_name).inc()
                continue
            except BaseException:  # 413, 408 or a client gone while streaming the body up
                lease.release()
                raise
            return lease, response
        raise _refusal_for(error, backend_name)

    def _finish(self, lease: Lease, status: int, headers: Headers | None = None) -> None:
        """The exchange is over: the lease released and the answer counted for passive health."""
        lease.release()
        self.registry.record(lease.instance, failed=counts_as_failure(status, headers or ()))

    async def _relay(
        self,
        lease: Lease,
        response: UpstreamResponse,
        request: ProxiedRequest,
        send: Send,
        *,
        shadow: Route | None = None,
        body: bytes | None = None,
    ) -> int:
        """Stream the backend's answer to the client (and keep a copy for a shadow comparison)."""
        status = response.status
        headers = self._client_headers(response.headers, request)
        capture: list[bytes] | None = [] if shadow is not None and body is not None else None
        captured = 0
        started = False  # the response's start was sent: a failure now can only cut it off
        try:
            if response.done or response.short_body:
                # One read, one write: the common small JSON answer costs fewest event-loop turns.
                if response.done:
                    data = b""
                else:
                    buffered = response.read_buffered()
                    data = await response.read() if buffered is None else buffered
                if capture is not None:
                    if len(data) > self.settings.shadow_max_body_bytes:
                        capture = None
                        self.metrics.shadow_dropped.labels(shadow.name, "body_too_large").inc()  # type: ignore[union-attr]
                    else:
                        capture.append(data)
                started = True
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": data})
            else:
                async for chunk in response.chunks():
                    if not started:
                        started = True
                        await send(
                            {"type": "http.response.start", "status": status, "headers": headers}
                        )
                    if capture is not None:
                        captured += len(chunk)
                        if captured > self.settings.shadow_max_body_bytes:
                            capture = None
                            self.metrics.shadow_dropped.labels(shadow.name, "body_too_large").inc()  # type: ignore[union-attr]
                        else:
                            capture.append(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if not started:
                    await send(
                        {"type": "http.response.start", "status": status, "headers": headers}
                    )
                await send({"type": "http.response.body", "body": b""})
        except UpstreamError as exc:
            self._finish(lease, 502)
            if not started:  # nothing sent yet: the gateway answers for the backend (502/504)
                raise _refusal_for(exc, lease.instance.backend) from exc
            logger.warning("backend failed mid-response: %s", exc)
            raise
        except BaseException:
            # The client's side failed (a send refused, the task cancelled): the answer is
            # abandoned, its connection not reused, the lease ended; not the backend's failure.
            response.discard()
            lease.release()
            raise
        self._finish(lease, status, response.headers)
        if shadow is not None and body is not None and self._mirror is not None:
            if capture is not None:
                self._mirror.submit(
                    ShadowJob(
                        route=shadow,
                        method=request.method,
                        target=request.target,
                        headers=[*request.headers, (b"x-strangler-shadow", b"1")],
                        body=body,
                        monolith=CapturedResponse(
                            status, _header_map(response.headers), b"".join(capture)
                        ),
                    )
                )
        elif shadow is not None:
            self.metrics.shadow_dropped.labels(shadow.name, "body_too_large").inc()
        return status

    async def _send_shadow(self, job: ShadowJob) -> CapturedResponse:
        assert job.route.service is not None
        request = ProxiedRequest(
            method=job.method,
            target=job.target,
            host=b"",
            headers=job.headers,
            content_length=len(job.body) if job.body else None,
            has_body=bool(job.body),
            client="",
            cookie=b"",
            correlation_id=b"",
        )
        for name, value in job.headers:
            if name == b"x-forwarded-host":
                request.host = value
        try:
            lease, response = await self._exchange(
                job.route.service,
                request,
                job.body,
                read_timeout=self.settings.shadow_timeout,
                retries=0,
            )
        except GatewayRefusal as refusal:
            raise UpstreamError(refusal.message) from refusal
        try:
            async with asyncio.timeout(self.settings.shadow_timeout):
                body = await response.read(limit=self.settings.shadow_max_body_bytes)
        except (UpstreamError, TimeoutError):
            response.discard()
            self._finish(lease, 502)
            raise
        self._finish(lease, response.status, response.headers)
        return CapturedResponse(response.status, _header_map(response.headers), body)

    def _log_shadow_result(self, result: ShadowResult) -> None:
        if not result.matched:
            logger.info(
                "shadow mismatch on %s %s: %s",
                result.method,
                result.path,
                "; ".join(str(d) for d in result.differences) or result.error,
            )

    def status(self) -> dict[str, Any]:
        """What the gateway is doing: routes, instances, shadow queue."""
        table = self.table
        return {
            "source": self.source.description,
            "routes": [r.to_dict() for r in table.routes] if table else [],
            "backends": self.registry.status(),
            "shadow_pending": self._mirror.pending if self._mirror else 0,
            "contexts": self.ownership.status(),
        }


class _Express:
    """One plain request on the express lane (`GatewayApp.answer_direct`, ADR 0014).

    Sent from the protocol's callback; answered from the backend connection's (`_Wire.listen`)
    once the head and a short Content-Length body are whole. Anything else (an interim or
    chunked answer, a long or unframed body, a closed or silent connection, a bad head) goes
    on in `handle(..., express=self)`, which reads the same bytes from the same connection
    and keeps every rule of the task path: retries, timeouts, errors, metrics.
    """

    __slots__ = (
        "app",
        "backend",
        "conn",
        "cycle",
        "expired",
        "fields",
        "head_deadline",
        "head_end",
        "instance",
        "keep_alive",
        "lease",
        "length",
        "read_timeout",
        "request",
        "route_name",
        "started",
        "status",
    )

    def __init__(
        self,
        app: GatewayApp,
        cycle: Any,
        request: ProxiedRequest,
        route_name: str,
        backend: str,
        instance: Instance,
        conn: Connection,
        started: float,
    ) -> None:
        self.app = app
        self.cycle = cycle
        self.request = request
        self.route_name = route_name
        self.backend = backend
        self.instance = instance
        self.lease = instance.lease()
        self.conn = conn
        self.started = started
        self.read_timeout = app.settings.read_timeout
        self.head_end = -1  # the head's length once it is whole and parsed
        self.expired = False  # the body stopped arriving for read_timeout
        # Set when they are known, never read before: head_deadline (send), and status,
        # fields, length and keep_alive (_parse, once the head is whole).
        self.head_deadline: float
        self.status: int
        self.fields: list[bytes]
        self.length: int
        self.keep_alive: bool

    def send(self) -> None:
        request = self.request
        headers = self.app._upstream_headers(request, self.instance.host_header)
        self.head_deadline = time.monotonic() + self.read_timeout
        try:
            lines = request_head(request.method, request.target, headers, b"")
            self.conn.transport.write(b"".join(lines))
            self.conn.wire.listen(self.on_wire, self.read_timeout)
        except Exception as exc:
            self._fail(exc)

    def on_wire(self, timed_out: bool) -> None:
        """Bytes came, the connection ended, or (timed_out) the wait's deadline passed."""
        try:
            wire = self.conn.wire
            buffer = wire.buffer
            if self.head_end < 0:
                end = buffer.find(b"\r\n\r\n")
                limit = self.instance.pool.header_limit
                if end < 0 and len(buffer) <= limit and not (timed_out or wire.eof):
                    return  # the rest of the head is on its way; its deadline runs on
                if end < 0 or end + 4 > limit or not self._parse(bytes(buffer[: end + 4])):
                    self._hand_off()  # refused or failed there, as the task path does
                    return
            whole = self.head_end + self.length
            if len(buffer) < whole:
                if timed_out or wire.eof:
                    self.expired = timed_out
                    self._hand_off()
                else:  # the body's reads wait read_timeout from each arrival, as `read` does
                    wire.listen(self.on_wire, self.read_timeout)
                return
            wire.listen(None)
            body = wire.take(whole, self.head_end)
            if self.keep_alive:
                self.instance.pool.release(self.conn)
            else:
                self.conn.close()
            self.app._deliver(self, body)
        except Exception as exc:
            self._fail(exc)

    def _parse(self, head: bytes) -> bool:
        """Keep a plain final head with a short body (`relayable_head`) whose status says
        nothing about the instance's health; False hands anything else to the task path."""
        relayable = relayable_head(head, self.request.method)
        if relayable is None:
            return False
        status, fields, length, keep_alive = relayable
        if length > SHORT_BODY_BYTES or status in UNAVAILABLE_STATUSES:
            return False
        self.head_end = len(head)
        self.status, self.fields, self.length, self.keep_alive = status, fields, length, keep_alive
        return True

    def _hand_off(self) -> None:
        self.conn.wire.listen(None)
        self.cycle.continue_in_task(functools.partial(self.app.handle, express=self))

    async def response(self) -> UpstreamResponse:
        """In the task, the answer to the request sent: what `send_request` awaits."""
        return await await_response(
            self.instance.pool,
            self.conn,
            self.request.method,
            read_timeout=0.0 if self.expired else self.read_timeout,
            head_timeout=max(0.0, self.head_deadline - time.monotonic()),
        )

    def _fail(self, exc: Exception) -> None:
        """A defect on the lane: answered as the task path's cycle answers one (a 500)."""
        self.conn.wire.listen(None)
        self.conn.close()
        self.lease.release()
        self.cycle.fail(exc)


def _holdable(response: UpstreamResponse) -> bool:
    """A backend's intended 503 (writes frozen) with a body small enough to keep."""
    return (
        response.status == 503
        and is_intended(response.headers)
        and (response.done or response.short_body)
    )


async def _client_gone(receive: Receive) -> None:
    """Returns when the client disconnects; call it once the request body was read whole."""
    # The server may first repeat the end of an empty body; after that receive() waits.
    for _ in range(2):
        if (await receive())["type"] == "http.disconnect":
            return
    await asyncio.Event().wait()  # a server that keeps repeating itself: nothing to watch


def _refusal_for(error: UpstreamError, backend: str) -> GatewayRefusal:
    if isinstance(error, NoInstanceAvailable):
        return GatewayRefusal(503, "unavailable", f"No healthy instance of {backend}.")
    if isinstance(error, UpstreamTimeout):
        return GatewayRefusal(504, "timeout", f"{backend} did not answer in time.")
    return GatewayRefusal(502, "bad_gateway", f"{backend} could not be reached.")


def _header_map(headers: Headers) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
