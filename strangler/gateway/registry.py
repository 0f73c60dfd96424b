"""The service registry: instances per backend, health (active and passive), breakers, balancing."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Iterable

from strangler.gateway.client import (
    ConnectionPool,
    Endpoint,
    UpstreamConnectError,
    UpstreamError,
    send_request,
)
from strangler.gateway.conf import GatewaySettings
from strangler.gateway.routing import RoutingConfigError, RoutingTable, normalise_instance_url

logger = logging.getLogger(__name__)

# Statuses that say "this instance cannot serve now", as opposed to an application error.
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
# A backend marks an answer it gives on purpose (the write guard's 503 `writes_frozen` while a
# cutover moves a context): the instance is working as meant, so it is no failure.
INTENDED_HEADER = b"x-strangler-intended"


def counts_as_failure(status: int, headers: Iterable[tuple[bytes, bytes]] = ()) -> bool:
    """Whether a backend's answer counts against the instance (passive health, breaker)."""
    return status in UNAVAILABLE_STATUSES and not is_intended(headers)


def is_intended(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the backend marked its answer as given on purpose (X-Strangler-Intended)."""
    return any(name == INTENDED_HEADER for name, _ in headers)


class UnknownBackendError(LookupError):
    """Registration named a backend the routing table does not have."""


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `open_seconds` one trial may pass."""

    __slots__ = (
        "_trial_in_flight",
        "consecutive_failures",
        "open_seconds",
        "opened_at",
        "state",
        "threshold",
    )

    def __init__(self, threshold: int, open_seconds: float) -> None:
        self.threshold = threshold
        self.open_seconds = open_seconds
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at = 0.0
        self._trial_in_flight = False

    def can_pass(self, now: float) -> bool:
        """Whether a request may be sent now (does not change state)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return now - self.opened_at >= self.open_seconds
        return not self._trial_in_flight

    def on_send(self, now: float) -> None:
        """A request is going out: an expired open breaker turns half-open with this trial."""
        if self.state is BreakerState.OPEN and now - self.opened_at >= self.open_seconds:
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN:
            self._trial_in_flight = True

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._trial_in_flight = False

    def record_failure(self, now: float) -> None:
        self.consecutive_failures += 1
        self._trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.threshold:
            self.state = BreakerState.OPEN
            self.opened_at = now


class Instance:
    """One running copy of a backend, with its connection pool and health."""

    def __init__(self, backend: str, url: str, settings: GatewaySettings, *, dynamic: bool) -> None:
        self.backend = backend
        self.url = url
        self.endpoint = Endpoint.from_url(url)
        self.host_header = self.endpoint.host_header  # sent with every request: computed once
        self.pool = ConnectionPool(
            self.endpoint,
            max_idle=settings.pool_max_idle,
            idle_timeout=settings.pool_idle_timeout,
            connect_timeout=settings.connect_timeout,
            header_limit=settings.max_response_header_bytes,
        )
        self.breaker = CircuitBreaker(settings.circuit_failures, settings.circuit_open_seconds)
        self.dynamic = dynamic
        self.expires_at = float("inf")
        self.healthy = True  # optimistic until a check or a request says otherwise
        self.ejected_until = 0.0
        self.consecutive_failures = 0
        self.failed_checks = 0
        self.outstanding = 0
        self.requests = 0
        self.failures = 0
        # Times it was taken out of the pool, and times its breaker opened, since it was added.
        self.ejections = 0
        self.circuit_opens = 0

    def available(self, now: float) -> bool:
        return self.healthy and self.breaker.can_pass(now)

    def lease(self) -> Lease:
        """Count a request in flight on this instance until the lease is released."""
        return Lease(self)

    def in_flight(self) -> int:
        return self.outstanding

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "healthy": self.healthy,
            "circuit": self.breaker.state.name.lower(),
            "outstanding": self.outstanding,
            "requests": self.requests,
            "failures": self.failures,
            "ejections": self.ejections,
            "circuit_opens": self.circuit_opens,
            "dynamic": self.dynamic,
            "idle_connections": self.pool.idle_count,
        }


class Lease:
    """One request's hold on an instance: in flight from `Instance.lease()` until `release()`.

    The lease owns the in-flight count: it is counted once and released once, whichever way
    the exchange ends (an answer, a failure, a client gone mid-body).
    """

    __slots__ = ("_released", "instance")

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._released = False
        instance.outstanding += 1
        instance.requests += 1

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.instance.outstanding -= 1


class Backend:
    """A named backend's instances and how requests are spread over them."""

    def __init__(self, name: str, balance: str, health_path: str) -> None:
        self.name = name
        self.balance = balance
        self.health_path = health_path
        self.instances: list[Instance] = []
        self._next = 0

    def pick(self, now: float, exclude: Iterable[Instance] = ()) -> Instance | None:
        """A healthy instance whose breaker lets a request through, by the backend's policy."""
        excluded = tuple(exclude)
        instances = self.instances
        if len(instances) == 1 and not excluded and instances[0].available(now):
            self._next += 1
            return instances[0]  # the usual single instance: no lists to build
        candidates = [i for i in instances if i not in excluded and i.available(now)]
        if not candidates:
            # Panic mode: when health checks took every instance out (a slow probe under load,
            # say), trying them beats answering 503 for sure; open breakers still hold.
            candidates = [
                i for i in self.instances if i not in excluded and i.breaker.can_pass(now)
            ]
            if not candidates or any(i.healthy for i in self.instances):
                return None
        if self.balance == "least_outstanding":
            least = min(i.outstanding for i in candidates)
            tied = [i for i in candidates if i.outstanding == least]
            chosen = tied[self._next % len(tied)]
        else:
            chosen = candidates[self._next % len(candidates)]
        self._next += 1
        return chosen


class Registry:
    """Every backend of the routing table, and their instances (configured or registered)."""

    def __init__(self, settings: GatewaySettings, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self.backends: dict[str, Backend] = {}
        self.on_change: Callable[[Instance], None] = lambda instance: None
        # Told of an instance taken out of the pool ("ejected") or whose breaker opened
        # ("circuit_opened"), once per transition.
        self.on_transition: Callable[[Instance, str], None] = lambda instance, event: None

    # -- configuration -------------------------------------------------------------------------
    def apply_table(self, table: RoutingTable) -> None:
        """Bring backends in line with a (re)loaded table, keeping state of unchanged instances."""
        for name in list(self.backends):
            if name not in table.backends:
                for instance in self.backends.pop(name).instances:
                    instance.pool.close()
        for name, spec in table.backends.items():
            backend = self.backends.get(name)
            balance = spec.balance or self.settings.balance
            health_path = spec.health_path or self.settings.health_path
            if backend is None:
                backend = self.backends[name] = Backend(name, balance, health_path)
            backend.balance, backend.health_path = balance, health_path
            wanted = set(spec.urls)
            kept: list[Instance] = []
            for instance in backend.instances:
                if instance.url in wanted or instance.dynamic:
                    kept.append(instance)
                    wanted.discard(instance.url)
                    instance.dynamic = instance.dynamic and instance.url not in spec.urls
                else:
                    instance.pool.close()
            for url in spec.urls:
                if url in wanted:
                    kept.append(Instance(name, url, self.settings, dynamic=False))
            backend.instances = kept

    def register(self, backend_name: str, url: str, ttl: float | None = None) -> Instance:
        """Add (or refresh, as a heartbeat) an instance of a known backend."""
        backend = self.backends.get(backend_name)
        if backend is None:
            raise UnknownBackendError(
                f"backend {backend_name!r} is not in the routing table "
                f"(known: {', '.join(sorted(self.backends))})"
            )
        normalised = normalise_instance_url(url, "registration")
        ttl = self.settings.registration_ttl if ttl is None else ttl
        for instance in backend.instances:
            if instance.url == normalised:
                if instance.dynamic:
                    instance.expires_at = self.clock() + ttl
                return instance
        instance = Instance(backend_name, normalised, self.settings, dynamic=True)
        instance.expires_at = self.clock() + ttl
        backend.instances.append(instance)
        logger.info(
            "instance %s of %s registered",
            normalised,
            backend_name,
            extra={"backend": backend_name, "url": normalised},
        )
        return instance

    def deregister(self, backend_name: str, url: str) -> bool:
        backend = self.backends.get(backend_name)
        if backend is None:
            return False
        try:
            normalised = normalise_instance_url(url, "registration")
        except RoutingConfigError:
            return False
        for instance in backend.instances:
            if instance.url == normalised and instance.dynamic:
                backend.instances.remove(instance)
                instance.pool.close()
                return True
        return False

    def expire(self) -> None:
        """Drop registered instances whose heartbeats stopped."""
        now = self.clock()
        for backend in self.backends.values():
            for instance in [i for i in backend.instances if i.dynamic and i.expires_at < now]:
                logger.warning(
                    "instance %s of %s missed its heartbeats",
                    instance.url,
                    backend.name,
                    extra={"backend": backend.name, "url": instance.url},
                )
                backend.instances.remove(instance)
                instance.pool.close()

    # -- passive health ------------------------------------------------------------------------
    def record(self, instance: Instance, *, failed: bool) -> None:
        breaker = instance.breaker
        if not failed:
            # The common case changes nothing unless the instance was failing: the gauges are
            # touched (on_change) only then, not on every answer (ADR 0014).
            if (
                instance.consecutive_failures
                or breaker.consecutive_failures
                or breaker.state is not BreakerState.CLOSED
            ):
                instance.consecutive_failures = 0
                breaker.record_success()
                self.on_change(instance)
            return
        now = self.clock()
        instance.failures += 1
        instance.consecutive_failures += 1
        was_open = breaker.state is BreakerState.OPEN
        breaker.record_failure(now)
        if not was_open and breaker.state is BreakerState.OPEN:
            instance.circuit_opens += 1
            self.on_transition(instance, "circuit_opened")
        if instance.healthy and instance.consecutive_failures >= self.settings.passive_failures:
            instance.healthy = False
            instance.ejected_until = now + self.settings.eject_seconds
            instance.ejections += 1
            self.on_transition(instance, "ejected")
            logger.warning(
                "instance %s of %s taken out after consecutive failures",
                instance.url,
                instance.backend,
                extra={"backend": instance.backend, "url": instance.url},
            )
        self.on_change(instance)

    def readmit_expired_ejections(self) -> None:
        """Without active checks, a passively ejected instance is tried again after a while."""
        now = self.clock()
        for backend in self.backends.values():
            for instance in backend.instances:
                if (
                    not instance.healthy
                    and instance.ejected_until
                    and now >= instance.ejected_until
                ):
                    self._set_health(instance, True)

    # -- active health -------------------------------------------------------------------------
    async def check_all(self) -> None:
        """Probe every instance's health path once, concurrently."""
        instances = [i for b in self.backends.values() for i in b.instances]
        await asyncio.gather(*(self.check(i) for i in instances))

    async def check(self, instance: Instance) -> bool:
        backend = self.backends.get(instance.backend)
        path = (backend.health_path if backend else self.settings.health_path).encode()
        headers = [(b"host", instance.host_header), (b"user-agent", b"strangler-gateway")]
        try:
            async with asyncio.timeout(self.settings.health_timeout):
                response = await send_request(
                    instance.pool,
                    "GET",
                    path,
                    headers,
                    None,
                    read_timeout=self.settings.health_timeout,
                )
                await response.read(limit=64 * 1024)
            ok = 200 <= response.status < 300
            definite = True
        except UpstreamConnectError:
            ok, definite = False, True  # nothing listens: out at once
        except (UpstreamError, TimeoutError):
            ok, definite = False, False
        if ok:
            instance.failed_checks = 0
        else:
            instance.failed_checks += 1
        # A probe that merely timed out (a loaded machine) must fail twice in a row.
        if ok or definite or instance.failed_checks >= 2:
            self._set_health(instance, ok)
        return ok

    def _set_health(self, instance: Instance, healthy: bool) -> None:
        if healthy == instance.healthy:
            return
        instance.healthy = healthy
        if healthy:
            instance.consecutive_failures = 0
            instance.ejected_until = 0.0
            instance.breaker.record_success()
        else:
            instance.ejections += 1
            self.on_transition(instance, "ejected")
        logger.info(
            "instance %s of %s %s",
            instance.url,
            instance.backend,
            "back in the pool" if healthy else "out of the pool",
            extra={"backend": instance.backend, "url": instance.url},
        )
        self.on_change(instance)

    def close(self) -> None:
        for backend in self.backends.values():
            for instance in backend.instances:
                instance.pool.close()

    def status(self) -> dict[str, object]:
        return {
            name: {
                "balance": backend.balance,
                "instances": [i.to_dict() for i in backend.instances],
            }
            for name, backend in self.backends.items()
        }
