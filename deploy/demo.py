"""The demo stack's set-up: prepare the databases and broker, and write the gateway's routes.

    python deploy/demo.py prepare [--no-backfill]   migrate, seed, declare queues, fill the service
    python deploy/demo.py route CONTEXT --mode shadow|canary|service|monolith [--percent N]

`make run` runs `prepare`, then `deploy/stack.py` starts every process of deploy/Procfile
(deploy/Procfile.celery with STRANGLER_RUN_MODE=celery).
Everything comes from the environment, as in every process of the stack: SQLite files and the
embedded broker under var/ (STRANGLER_VAR_DIR) by default; DATABASE_URL, CATALOG_DATABASE_URL,
INVENTORY_DATABASE_URL, STRANGLER_CONTROL_DATABASE_URL and BROKER_URL select PostgreSQL and
RabbitMQ. DEMO_GATEWAY_PORT, DEMO_MONOLITH_PORT, DEMO_CATALOG_PORT and DEMO_INVENTORY_PORT move
the four HTTP processes (8000, 8001, 8002, 8003).
`prepare` is idempotent: a second run migrates nothing, seeds nothing and does not backfill again.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MONOLITH_SETTINGS = "monolith.config.settings"
# The extracted services: {context: settings module}; each is routed on /api/<context>/.
SERVICE_SETTINGS = {
    "catalog": "extracted.catalog.config.settings",
    "inventory": "extracted.inventory.config.settings",
}
ROUTE_MODES_FILE = "demo-route-modes.json"
ROUTES_FILE = "routes.yaml"
ANNOUNCE_FILE = "demo-stack.json"
MODES = ("monolith", "shadow", "canary", "service")
SAFE_METHODS = ["GET", "HEAD", "OPTIONS"]
# The gateway checks its file every RELOAD_INTERVAL (2s); `route` waits for it to take the table.
RELOAD_WAIT_SECONDS = 15.0
# Fields the two sides may legitimately disagree on without a bug: none yet. A shadow mismatch
# in the demo is a real difference worth reading in `shadow_report`.
SHADOW_IGNORE: list[str] = []


class DemoError(Exception):
    """A preparation step failed; the message says which and how to look into it."""


@dataclass(frozen=True)
class DemoPorts:
    """Where the demo's HTTP processes listen (loopback only)."""

    gateway: int
    monolith: int
    catalog: int
    inventory: int = 8003

    @classmethod
    def from_env(cls) -> DemoPorts:
        def port(name: str, default: int) -> int:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise DemoError(f"{name}={raw!r} is not a TCP port number.")
            return int(raw)

        return cls(
            gateway=port("DEMO_GATEWAY_PORT", 8000),
            monolith=port("DEMO_MONOLITH_PORT", 8001),
            catalog=port("DEMO_CATALOG_PORT", 8002),
            inventory=port("DEMO_INVENTORY_PORT", 8003),
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{getattr(self, name)}"


def var_dir() -> Path:
    """The folder of the embedded databases, broker and generated files, as in settings."""
    return Path(os.environ.get("STRANGLER_VAR_DIR") or ROOT / "var")


def context_routes(context: str, mode: str, percent: float = 0.0) -> list[dict[str, Any]]:
    """The gateway's routes of one context (under /api/<context>/) in one migration mode.

    Every route names the context: whatever the mode does with reads, the gateway sends writes
    to the context's current writer (the control database says which), so a cutover needs no
    route change.
    """
    if mode not in MODES:
        raise DemoError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}.")
    prefix = f"/api/{context}/"
    routes: list[dict[str, Any]]
    if mode == "monolith":
        routes = [{"name": context, "prefix": prefix, "mode": "monolith"}]
    elif mode == "shadow":
        routes = [
            {
                "name": f"{context}-reads",
                "prefix": prefix,
                "methods": SAFE_METHODS,
                "mode": "shadow",
                "service": context,
                "ignore": SHADOW_IGNORE,
            },
            {"name": f"{context}-writes", "prefix": prefix, "mode": "monolith"},
        ]
    elif mode == "canary":
        if not 0 <= percent <= 100:
            raise DemoError(f"--percent {percent} is outside 0-100.")
        routes = [
            {
                "name": f"{context}-reads",
                "prefix": prefix,
                "methods": SAFE_METHODS,
                "mode": "canary",
                "percent": percent,
                "service": context,
            },
            {"name": f"{context}-writes", "prefix": prefix, "mode": "monolith"},
        ]
    else:
        routes = [{"name": context, "prefix": prefix, "mode": "service", "service": context}]
    # `service` names the backend that takes the writes once the context's service writes them.
    for entry in routes:
        entry.setdefault("service", context)
        entry["context"] = context
    return routes


def routing_table(
    ports: DemoPorts,
    mode: str,
    percent: float = 0.0,
    *,
    context: str = "catalog",
    others: dict[str, tuple[str, float]] | None = None,
) -> dict[str, Any]:
    """The gateway's routing table: `context` in `mode`, every other service's context as
    `others` says (in the monolith by default)."""
    modes = {name: (others or {}).get(name, ("monolith", 0.0)) for name in SERVICE_SETTINGS}
    modes[context] = (mode, percent)
    backends = {"monolith": [ports.url("monolith")]}
    backends.update({name: [ports.url(name)] for name in SERVICE_SETTINGS})
    routes = [r for name, (m, p) in modes.items() for r in context_routes(name, m, p)]
    return {"backends": backends, "routes": routes}


def route_modes() -> dict[str, tuple[str, float]]:
    """The mode each context was last routed in by `route` ({} before the first)."""
    try:
        raw = json.loads((var_dir() / ROUTE_MODES_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {name: (str(mode), float(percent)) for name, (mode, percent) in raw.items()}


def modes_header(modes: dict[str, tuple[str, float]]) -> str:
    labels = [
        f"{name}: {mode} {percent:g}%" if mode == "canary" else f"{name}: {mode}"
        for name, (mode, percent) in sorted(modes.items())
    ]
    return "; ".join(labels)


def write_routes(path: Path, table: dict[str, Any], *, header: str) -> bool:
    """Replace the routing file atomically (the gateway never reads half a file); False if the
    file already said the same."""
    import yaml

    text = f"# {header}\n" + yaml.safe_dump(table, sort_keys=False, default_flow_style=None)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    return True


def prepared_ports() -> DemoPorts:
    """The ports `prepare` chose (so `route` needs no variables), else the environment's."""
    try:
        recorded = json.loads((var_dir() / ANNOUNCE_FILE).read_text())["ports"]
    except (OSError, ValueError, KeyError):
        return DemoPorts.from_env()
    return DemoPorts(**recorded)


def announcement(ports: DemoPorts) -> dict[str, Any]:
    """What stack.py waits for before it prints where to look (and the ports, for `route`)."""
    gateway, monolith, catalog, inventory = (
        ports.url(n) for n in ("gateway", "monolith", "catalog", "inventory")
    )
    return {
        "ports": dataclasses.asdict(ports),
        "ready": [
            f"{monolith}/readyz",
            f"{catalog}/readyz",
            f"{inventory}/readyz",
            f"{gateway}/healthz",
        ],
        "lines": [
            f"gateway (the front door)  {gateway}/api/catalog/products/",
            f"monolith                  {monolith}/api/catalog/products/",
            f"catalog service           {catalog}/api/catalog/products/",
            f"inventory service         {inventory}/api/inventory/stock/",
            f"admin                     {monolith}/admin/  (python manage.py createsuperuser)",
            f"API docs                  {monolith}/api/docs/  and  {catalog}/api/docs/",
            "Ctrl-C stops every process.",
        ],
    }


# --- the steps inside each Django project -------------------------------------------------------


def prepare_side(side: str, backfill: bool) -> None:
    """Run one project's preparation in this process (settings chosen by the parent)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    def quietly(*args: Any, **options: Any) -> str:
        """Run a command, keeping its report for one summary line (errors still raise)."""
        out = io.StringIO()
        call_command(*args, stdout=out, verbosity=0, **options)
        return out.getvalue()

    quietly("migrate", interactive=False)
    if side == "monolith":
        # The control database (who writes each context) is shared; the monolith migrates it.
        quietly("migrate", database="control", interactive=False)
        print("monolith: databases migrated", flush=True)
        seeded = quietly("seed_demo").strip().splitlines()
        print(f"monolith: {seeded[-1] if seeded else 'demo data seeded'}", flush=True)
    else:
        print(f"{side}: database migrated", flush=True)
    declared = [line for line in quietly("setup_broker").splitlines() if "declared" in line]
    print(f"{side}: broker {'; '.join(declared)}", flush=True)
    if side == "monolith" and backfill:
        backfill_once(quietly)


def backfill_once(run_command: Callable[..., str]) -> None:
    """Snapshot each extracted context into the outbox unless a finished backfill is on record."""
    from strangler.sync.models import BackfillRun

    for context in SERVICE_SETTINGS:
        done = BackfillRun.objects.filter(context=context, status=BackfillRun.Status.DONE)
        if done.exists():
            print(f"monolith: {context} already backfilled (its service is filled)", flush=True)
            continue
        run_command("backfill", context)
        print(f"monolith: {context} backfilled; the relay publishes it at start", flush=True)


# --- the commands -------------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> int:
    ports = DemoPorts.from_env()
    folder = var_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # Celery mode on the embedded broker: kombu's filesystem transport needs its folders
    # (strangler.settings_blocks.celery_settings names them).
    for name in ("queues", "control"):
        (folder / "celery-broker" / name).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    broker = os.environ.get("BROKER_URL") or f"filesystem:// (embedded, in {folder / 'broker'})"
    database = os.environ.get("DATABASE_URL") or f"SQLite files (embedded, in {folder})"
    print(f"demo: databases {redact(database)}; broker {redact(broker)}", flush=True)
    # The two projects cannot share a process (one settings module each): one child per side,
    # one after the other, since the service reads the control database the monolith migrates.
    for side, settings in (("monolith", MONOLITH_SETTINGS), *SERVICE_SETTINGS.items()):
        command = [sys.executable, __file__, "prepare-side", side]
        if not args.backfill:
            command.append("--no-backfill")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONUNBUFFERED": "1"}
        if subprocess.run(command, cwd=ROOT, env=env).returncode != 0:
            raise DemoError(f"preparing the {side} failed (see above).")
    routes = folder / ROUTES_FILE
    if not routes.exists():
        write_routes(
            routes,
            routing_table(ports, "monolith"),
            header="every context: monolith (written by deploy/demo.py; change with `route`)",
        )
        print(f"demo: wrote the gateway's routing table {routes}", flush=True)
    (folder / ANNOUNCE_FILE).write_text(json.dumps(announcement(ports), indent=2))
    print(f"demo: prepared in {time.monotonic() - started:.1f}s", flush=True)
    return 0


def route(args: argparse.Namespace) -> int:
    if args.context not in SERVICE_SETTINGS:
        known = ", ".join(SERVICE_SETTINGS)
        raise DemoError(f"the demo routes {known}, not {args.context!r}.")
    if args.mode == "canary" and args.percent is None:
        raise DemoError("--mode canary needs --percent (0-100).")
    ports = prepared_ports()
    percent = args.percent or 0.0
    modes = {**route_modes(), args.context: (args.mode, percent)}
    table = routing_table(ports, args.mode, percent, context=args.context, others=modes)
    path = var_dir() / ROUTES_FILE
    label = f"{args.mode} {percent:g}%" if args.mode == "canary" else args.mode
    metrics_url = f"{ports.url('gateway')}/metrics"
    reloads_before = gateway_reloads(metrics_url)
    header = f"{modes_header(modes)} (written by deploy/demo.py route)"
    changed = write_routes(path, table, header=header)
    (var_dir() / ROUTE_MODES_FILE).write_text(json.dumps(modes))
    print(f"{args.context} routed: {label}", flush=True)
    for entry in table["routes"]:
        methods = ",".join(entry.get("methods", [])) or "any method"
        target = entry["mode"]
        if entry["mode"] == "canary":
            target = f"canary {entry['percent']:g}% to {entry['service']}"
        elif entry["mode"] in ("shadow", "service"):
            target = f"{entry['mode']} ({entry['service']})"
        if entry.get("context") and entry.get("methods") != SAFE_METHODS:
            target += f"; writes to the {entry['context']}'s writer"
        print(f"  {entry['prefix']} {methods}: {target}", flush=True)
    if not changed:
        print("the gateway already uses this routing table", flush=True)
        return 0
    if reloads_before is None:
        print(f"the gateway is not running; it reads {path} when it starts", flush=True)
        return 0
    deadline = time.monotonic() + RELOAD_WAIT_SECONDS
    while time.monotonic() < deadline:
        reloads = gateway_reloads(metrics_url)
        if reloads is not None and reloads > reloads_before:
            print("the gateway reloaded its routing table", flush=True)
            return 0
        time.sleep(0.1)
    raise DemoError(f"the gateway did not reload {path} in {RELOAD_WAIT_SECONDS:g}s; see its log.")


def gateway_reloads(metrics_url: str) -> float | None:
    """Successful routing table loads so far, from the gateway's /metrics; None if it is down.

    The gateway answers /metrics on its main listener to a loopback caller or to one with its
    token (STRANGLER_GATEWAY_TOKEN, as the gateway reads it): the token is sent when it is set,
    so the check works from another host or container too.
    """
    request = urllib.request.Request(metrics_url)
    token = os.environ.get("STRANGLER_GATEWAY_TOKEN", "").strip()
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise DemoError(
                f"the gateway refused {metrics_url} (401): set STRANGLER_GATEWAY_TOKEN to the "
                "gateway's token, or run this on the gateway's host."
            ) from exc
        return None
    except (urllib.error.URLError, OSError):
        return None
    found = re.search(r'^gateway_routing_reloads_total\{result="ok"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def redact(url: str) -> str:
    """A URL without its password, for printing."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="migrate, seed, declare queues, fill the service")
    prep.add_argument(
        "--no-backfill",
        dest="backfill",
        action="store_false",
        default=os.environ.get("DEMO_BACKFILL", "1").strip().lower() not in ("0", "no", "false"),
        help="leave the catalog service empty (the tutorial backfills it by hand); "
        "also DEMO_BACKFILL=0",
    )
    side = commands.add_parser("prepare-side", help=argparse.SUPPRESS)
    side.add_argument("side", choices=["monolith", *SERVICE_SETTINGS])
    side.add_argument("--no-backfill", dest="backfill", action="store_false")
    routing = commands.add_parser("route", help="route a context's traffic at the gateway")
    routing.add_argument("context", help="the context to route: catalog or inventory")
    routing.add_argument("--mode", required=True, choices=MODES)
    routing.add_argument("--percent", type=float, help="canary: share of clients (0-100)")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare-side":
            prepare_side(args.side, args.backfill)
            return 0
        return prepare(args) if args.command == "prepare" else route(args)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
