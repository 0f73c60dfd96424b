"""The routing table: backends and routes (prefix + methods -> mode), first match wins."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from strangler.gateway.jsonpath import JSONPath, JSONPathError, parse_path

MONOLITH = "monolith"
MODES = ("monolith", "shadow", "canary", "service", "deny")
DENY = "deny"
# What a `deny` route answers: 404 hides that anything is there, 403 says it is closed.
DENY_STATUSES = (404, 403)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
IDEMPOTENT_METHODS = SAFE_METHODS | {"PUT", "DELETE"}
BUCKETS = 10_000
_ROUTE_KEYS = {
    "name",
    "prefix",
    "methods",
    "mode",
    "service",
    "percent",
    "ignore",
    "mirror_unsafe",
    "client_key",
    "compare_headers",
    "salt",
    "context",
    "status",
}
_BACKEND_KEYS = {"instances", "balance", "health_path"}


class RoutingConfigError(ValueError):
    """The routing table cannot be used; the message says where and why."""


class ClientKeyError(RoutingConfigError):
    """A client key specification is not `header:NAME` or `cookie:NAME`."""


@dataclass(frozen=True, slots=True)
class ClientKey:
    """Where a canary finds the client's identity: a request header or a cookie."""

    kind: str  # "header" or "cookie"
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_client_key(spec: str) -> ClientKey:
    """`header:X-Client-Id` or `cookie:client_id` -> ClientKey."""
    kind, _, name = spec.partition(":")
    kind = kind.strip().lower()
    name = name.strip()
    if kind not in {"header", "cookie"} or not name:
        raise ClientKeyError(
            f"client key {spec!r} is not understood; use 'header:NAME' or 'cookie:NAME'"
        )
    return ClientKey(kind, name.lower() if kind == "header" else name)


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """A named backend (the monolith or a service) and the base URLs of its instances."""

    name: str
    urls: tuple[str, ...]
    balance: str | None = None
    health_path: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """One row of the table. `service` is the backend that is not the monolith."""

    name: str
    prefix: str
    mode: str
    methods: frozenset[str] | None = None
    service: str | None = None
    percent: float = 0.0
    ignore: tuple[JSONPath, ...] = ()
    mirror_unsafe: bool = False
    client_key: ClientKey | None = None
    compare_headers: tuple[str, ...] | None = None
    salt: str = ""
    # The bounded context whose writes this route carries: unsafe methods go to its writer.
    context: str | None = None
    # `deny` routes: the status the gateway answers itself (no backend sees the request).
    status: int = 404

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.prefix) and (self.methods is None or method in self.methods)

    def mirrors(self, method: str) -> bool:
        """Whether a shadow route sends this method to the service too."""
        return self.mode == "shadow" and (method in SAFE_METHODS or self.mirror_unsafe)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "prefix": self.prefix, "mode": self.mode}
        if self.methods is not None:
            data["methods"] = sorted(self.methods)
        if self.service:
            data["service"] = self.service
        if self.mode == "canary":
            data["percent"] = self.percent
        if self.ignore:
            data["ignore"] = [p.expression for p in self.ignore]
        if self.mirror_unsafe:
            data["mirror_unsafe"] = True
        if self.client_key:
            data["client_key"] = str(self.client_key)
        if self.compare_headers is not None:
            data["compare_headers"] = list(self.compare_headers)
        if self.context:
            data["context"] = self.context
        if self.mode == DENY:
            data["status"] = self.status
        return data


DEFAULT_ROUTE = Route(name="default", prefix="/", mode="monolith")
# STRANGLER_GATEWAY['UNMATCHED'] = "deny": a path no route matches is answered 404.
DENY_UNMATCHED = Route(name="unmatched", prefix="/", mode=DENY)


@dataclass(frozen=True)
class RoutingTable:
    """Backends and ordered routes; `match` returns the first route that fits, else the default."""

    backends: Mapping[str, BackendSpec]
    routes: tuple[Route, ...]
    source: str = ""
    fingerprint: str = field(default="", compare=False)
    unmatched: Route = DEFAULT_ROUTE

    def match(self, method: str, path: str) -> Route:
        for route in self.routes:
            if route.matches(method, path):
                return route
        return self.unmatched

    @property
    def contexts(self) -> frozenset[str]:
        """The contexts whose writer the routes follow (`context:`)."""
        return frozenset(route.context for route in self.routes if route.context)


@dataclass(frozen=True, slots=True)
class ContextOwner:
    """What the gateway knows of a context's single writer, read off the hot path.

    `writer` is "monolith" or the context's service name (`service`, e.g. "catalog-service", as
    STRANGLER_OWNERSHIP names it); `read` is False while it is the configured default writer
    because the control database has not been read yet.
    """

    context: str
    writer: str
    service: str
    frozen: bool = False
    frozen_reason: str = ""
    epoch: int = 0
    retry_after: int = 2
    read: bool = True


@dataclass(frozen=True, slots=True)
class WriteDecision:
    """Where an unsafe request on a context's route goes: `backend`, or (backend None) the
    gateway answers `status` itself with `code`, `message` and, if set, Retry-After."""

    backend: str | None
    status: int = 0
    code: str = ""
    message: str = ""
    retry_after: int | None = None


def write_decision(route: Route, method: str, owner: ContextOwner | None) -> WriteDecision | None:
    """Single-writer routing: an unsafe method on a route with a context goes to its writer.

    None means the route's mode decides (no context, or a safe method). A frozen context is
    answered 503 with Retry-After at the gateway; so is a writer that is not known, or that has
    no backend on this route: the gateway never guesses a writer.
    """
    context = route.context
    if context is None or method in SAFE_METHODS:
        return None
    if owner is None:
        return WriteDecision(
            None,
            503,
            "writer_unknown",
            f"the writer of {context} is not known to the gateway yet; retry in 1s.",
            retry_after=1,
        )
    if owner.frozen:
        return WriteDecision(
            None,
            503,
            "writes_frozen",
            f"writes for {context} are frozen for a moment ({owner.frozen_reason or 'cutover'}); "
            f"retry in {owner.retry_after}s.",
            retry_after=owner.retry_after,
        )
    if owner.writer == MONOLITH:
        return WriteDecision(MONOLITH)
    if owner.writer == owner.service and route.service is not None:
        return WriteDecision(route.service)
    return WriteDecision(
        None,
        503,
        "writer_not_routed",
        f"writes for {context} are owned by {owner.writer}, which route {route.name} cannot "
        f"reach (its service backend is {route.service}).",
    )


def canary_bucket(client_key: str, salt: str) -> int:
    """A stable bucket 0..9999 for a client on a route: the same key always lands the same way."""
    digest = hashlib.blake2b(f"{salt}\x00{client_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def goes_to_service(route: Route, client_key: str) -> bool:
    """Canary decision: buckets below percent*100 go to the service (raising percent only adds)."""
    return canary_bucket(client_key, route.salt or route.prefix) < round(route.percent * 100)


def load_routing_file(path: str | Path) -> RoutingTable:
    """Read and validate a YAML routing table."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise RoutingConfigError(f"cannot read routing table {file}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{file} is not valid YAML: {exc}") from exc
    table = parse_routing_table(data or {}, source=str(file))
    return RoutingTable(table.backends, table.routes, table.source, _fingerprint(text))


def parse_routing_table(data: Any, *, source: str = "<dict>") -> RoutingTable:
    """Validate the `backends:` / `routes:` structure and build the table."""
    if not isinstance(data, dict):
        raise RoutingConfigError(f"{source}: the top level must be a mapping")
    unknown = set(data) - {"backends", "routes"}
    if unknown:
        raise RoutingConfigError(f"{source}: unknown top-level keys {sorted(unknown)}")
    backends = _parse_backends(data.get("backends") or {}, source)
    raw_routes = data.get("routes") or []
    if not isinstance(raw_routes, list):
        raise RoutingConfigError(f"{source}: 'routes' must be a list")
    routes: list[Route] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_routes):
        route = _parse_route(raw, index, backends, f"{source}: routes[{index}]")
        if route.name in names:
            route = _renamed(route, f"{route.name}#{index}")
        names.add(route.name)
        routes.append(route)
    return RoutingTable(backends, tuple(routes), source, _fingerprint(repr(data)))


def _renamed(route: Route, name: str) -> Route:
    values = {f: getattr(route, f) for f in Route.__slots__}
    values["name"] = name
    return Route(**values)


def _parse_backends(raw: Any, source: str) -> dict[str, BackendSpec]:
    if not isinstance(raw, dict):
        raise RoutingConfigError(f"{source}: 'backends' must map names to lists of URLs")
    backends: dict[str, BackendSpec] = {}
    for name, value in raw.items():
        where = f"{source}: backends.{name}"
        if isinstance(value, list):
            value = {"instances": value}
        if not isinstance(value, dict):
            raise RoutingConfigError(f"{where}: give a list of URLs or a mapping with 'instances'")
        unknown = set(value) - _BACKEND_KEYS
        if unknown:
            raise RoutingConfigError(f"{where}: unknown keys {sorted(unknown)}")
        urls = tuple(normalise_instance_url(str(u), where) for u in value.get("instances") or [])
        balance = value.get("balance")
        if balance is not None and balance not in ("round_robin", "least_outstanding"):
            raise RoutingConfigError(
                f"{where}: balance {balance!r}; use round_robin or least_outstanding"
            )
        health_path = value.get("health_path")
        if health_path is not None and not str(health_path).startswith("/"):
            raise RoutingConfigError(f"{where}: health_path must start with '/'")
        backends[str(name)] = BackendSpec(str(name), urls, balance, health_path)
    if MONOLITH not in backends:
        raise RoutingConfigError(
            f"{source}: backends must include '{MONOLITH}' (the default route answers from it)"
        )
    return backends


def normalise_instance_url(url: str, where: str = "instance") -> str:
    """`http://host:port` with no path, query or credentials; anything else is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RoutingConfigError(f"{where}: {url!r} is not an http(s)://host:port URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise RoutingConfigError(f"{where}: {url!r} must not carry credentials, query or fragment")
    if parts.path not in ("", "/"):
        raise RoutingConfigError(f"{where}: {url!r} must not have a path; routes keep the path")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RoutingConfigError(f"{where}: {url!r} has a bad port") from exc
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}:{port}"


def _parse_route(raw: Any, index: int, backends: dict[str, BackendSpec], where: str) -> Route:
    if not isinstance(raw, dict):
        raise RoutingConfigError(f"{where}: a route is a mapping")
    unknown = set(raw) - _ROUTE_KEYS
    if unknown:
        raise RoutingConfigError(f"{where}: unknown keys {sorted(unknown)}")
    prefix = raw.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise RoutingConfigError(f"{where}: 'prefix' must be a path starting with '/'")
    mode = raw.get("mode", MONOLITH)
    if mode not in MODES:
        raise RoutingConfigError(f"{where}: mode {mode!r}; use one of {', '.join(MODES)}")
    methods = raw.get("methods")
    method_set: frozenset[str] | None = None
    if methods is not None:
        if isinstance(methods, str):
            methods = [methods]
        if not isinstance(methods, list) or not methods:
            raise RoutingConfigError(f"{where}: 'methods' must be a non-empty list")
        method_set = frozenset(str(m).upper() for m in methods)
    service = raw.get("service")
    status = raw.get("status", 404)
    if mode == DENY:
        if status not in DENY_STATUSES:
            raise RoutingConfigError(f"{where}: a deny route answers 404 or 403, not {status!r}")
        if service is not None or raw.get("context") is not None:
            raise RoutingConfigError(f"{where}: a deny route takes no 'service' nor 'context'")
    elif "status" in raw:
        raise RoutingConfigError(f"{where}: 'status' is for deny routes only")
    if mode not in (MONOLITH, DENY) and not service:
        raise RoutingConfigError(f"{where}: mode {mode} needs 'service'")
    if service is not None and service not in backends:
        raise RoutingConfigError(
            f"{where}: service {service!r} is not among the backends ({', '.join(backends)})"
        )
    percent = raw.get("percent", 0)
    if mode == "canary":
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise RoutingConfigError(f"{where}: 'percent' must be a number from 0 to 100")
        if not 0 <= percent <= 100:
            raise RoutingConfigError(f"{where}: 'percent' {percent} is not between 0 and 100")
    ignore: list[JSONPath] = []
    for expression in raw.get("ignore") or []:
        try:
            ignore.append(parse_path(str(expression)))
        except JSONPathError as exc:
            raise RoutingConfigError(f"{where}: ignore {exc}") from exc
    client_key = parse_client_key(str(raw["client_key"])) if raw.get("client_key") else None
    compare_headers = raw.get("compare_headers")
    if compare_headers is not None:
        compare_headers = tuple(str(h).lower() for h in compare_headers)
    context = raw.get("context")
    if context is not None:
        if not isinstance(context, str) or not context.strip():
            raise RoutingConfigError(f"{where}: 'context' must be a context name, e.g. catalog")
        if not service:
            raise RoutingConfigError(
                f"{where}: context {context!r} needs 'service' (the backend that takes its "
                "writes once the service is the writer)"
            )
        context = context.strip()
    methods_label = ",".join(sorted(method_set)) if method_set else "*"
    name = str(raw.get("name") or f"{mode}:{prefix}:{methods_label}")
    return Route(
        name=name,
        prefix=prefix,
        mode=mode,
        methods=method_set,
        service=service,
        percent=float(percent) if mode == "canary" else 0.0,
        ignore=tuple(ignore),
        mirror_unsafe=bool(raw.get("mirror_unsafe", False)),
        client_key=client_key,
        compare_headers=compare_headers,
        salt=str(raw.get("salt") or prefix),
        context=context,
        status=int(status) if mode == DENY else 404,
    )


def _fingerprint(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
