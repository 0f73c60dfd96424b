"""Write docs/reference/commands.md and settings.md from the code, or --check that they are current.

    python docs/reference/generate_reference.py           # rewrite both pages
    python docs/reference/generate_reference.py --check   # exit 1 if either page is stale

Commands come from each Django project's own command registry and argparse parsers (one child
process per project, since settings are per process); settings from every `strangler/*/conf.py`
DEFAULTS (the comment above a key is its description); environment variables from the settings
modules, with the descriptions kept below (a variable without one fails the run).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMMANDS_PAGE = HERE / "commands.md"
SETTINGS_PAGE = HERE / "settings.md"
PROJECTS = {
    "monolith": ("monolith.config.settings", "python manage.py"),
    "catalog": ("extracted.catalog.config.settings", "python extracted/catalog/manage.py"),
}
# Our apps' commands are documented; Django's and third parties' are theirs to document.
OWN_PACKAGES = ("strangler.", "monolith.", "extracted.")
# Options every Django command has; listed once at the top of the page, not per command.
COMMON_OPTIONS = {
    "help",
    "version",
    "verbosity",
    "settings",
    "pythonpath",
    "traceback",
    "no_color",
    "force_color",
    "skip_checks",
}
# Environment variables read by the settings modules and strangler/environment.py.
ENVIRONMENT = {
    "DATABASE_URL": "The monolith's database (a dj-database-url URL). Default: SQLite file "
    "`var/monolith.sqlite3`.",
    "CATALOG_DATABASE_URL": "The catalog service's database; never DATABASE_URL, so a shell set "
    "up for the monolith cannot point the service at the monolith's database. Default: SQLite "
    "`var/catalog.sqlite3`.",
    "STRANGLER_CONTROL_DATABASE_URL": "The control database shared by every side: who writes "
    "each context, cutover progress. Default: SQLite `var/control.sqlite3`.",
    "BROKER_URL": "`amqp://user:pass@host:5672/vhost` for RabbitMQ; default `filesystem://`, the "
    "embedded transport under `var/broker`.",
    "STRANGLER_EXCHANGE": "Overrides `STRANGLER_TRANSPORT['EXCHANGE']`, the prefix of the events "
    "exchanges: each side publishes to `<prefix>.<side>` (one prefix per stack or test).",
    "STRANGLER_BROKER_URL": "Overrides `STRANGLER_TRANSPORT['URL']`: this process's own broker URL "
    "for events, with its side's broker user (`setup_broker --users` prints it). Unset: "
    "BROKER_URL. The demo's Procfile sets it per side from MONOLITH_BROKER_URL, "
    "CATALOG_BROKER_URL and INVENTORY_BROKER_URL.",
    "STRANGLER_BROKER_PASSWORD": "Password `setup_broker --users` gives the side's broker user; "
    "unset, a new user gets a generated one, printed once, and an existing user keeps its own.",
    "MONOLITH_BROKER_URL": "deploy/Procfile: the monolith's processes' STRANGLER_BROKER_URL (its "
    "broker user). Unset: BROKER_URL.",
    "CATALOG_BROKER_URL": "deploy/Procfile: the catalog service's processes' STRANGLER_BROKER_URL. "
    "Unset: BROKER_URL.",
    "INVENTORY_BROKER_URL": "deploy/Procfile: the inventory service's processes' "
    "STRANGLER_BROKER_URL. Unset: BROKER_URL.",
    "STRANGLER_BROKER_FOLDER": "Overrides `STRANGLER_TRANSPORT['DATA_FOLDER']`, the embedded "
    "transport's folder.",
    "STRANGLER_VAR_DIR": "Folder of the embedded databases, broker files and the demo's generated "
    "files. Default: `var/` in the repository.",
    "DEBUG": "`true`/`false` (anything else is an error). Default `true`; `false` turns on the "
    "production hardening (HTTPS redirect, secure cookies, HSTS).",
    "SECRET_KEY": "Django's secret key; required when DEBUG is off (no unsafe default).",
    "ALLOWED_HOSTS": "Comma-separated host names Django serves. Default "
    "`127.0.0.1,localhost,testserver`.",
    "SECURE_SSL_REDIRECT": "With DEBUG off: redirect HTTP to HTTPS (default `true`); set `false` "
    "when TLS ends in front of the process and probes speak plain HTTP.",
    "USE_X_FORWARDED_HOST": "Build absolute URLs (pagination links) from the X-Forwarded-Host the "
    "gateway sets (default `true`; still checked against ALLOWED_HOSTS); `false` for a server "
    "clients reach directly.",
    "LOG_LEVEL": "Root log level of every process (default `INFO`).",
    "LOG_FORMAT": "`json` (JSON lines stamped with correlation and causation ids) or `text`. "
    "Default: `text` while DEBUG is on, `json` otherwise.",
    "CATALOG_SERVICE_URL": "The monolith's peer for the catalog (`STRANGLER_SYNC['PEERS']`): "
    "reconcile, cutover and migration_status reach the service there.",
    "INVENTORY_SERVICE_URL": "The monolith's peer for the inventory (`STRANGLER_SYNC['PEERS']`): "
    "reconcile, cutover and migration_status reach the inventory service there.",
    "MONOLITH_URL": "The catalog service's peer (`STRANGLER_SYNC['PEERS']`).",
    "MONOLITH_ORDER_STOCK_TIMEOUT": "Seconds an order placed while the inventory service writes "
    "inventory waits for the service to reserve its stock before `expire_sagas` rejects it "
    "(`STRANGLER_SAGAS['TYPES']['orders.place_order']['timeout']`). Default `60`.",
    "CATALOG_INBOX_QUEUE": "The catalog service's inbox queue (default `catalog-service.events`).",
    "CATALOG_INBOX_BATCH_SIZE": "Messages the catalog consumer applies per transaction (500).",
    "CATALOG_INBOX_PREFETCH": "Unacked messages the broker may push to the catalog consumer "
    "(1000).",
    "CATALOG_INBOX_MAX_ATTEMPTS": "Deliveries before a failing message is dead-lettered (5).",
    "CATALOG_INBOX_RETRY_BACKOFF": "First retry delay of a failing message, in seconds (0.5).",
    "INVENTORY_DATABASE_URL": "The inventory service's own database (SQLite file "
    "`var/inventory.sqlite3` when unset).",
    "INVENTORY_INBOX_QUEUE": "The inventory service's inbox queue (default "
    "`inventory-service.events`).",
    "INVENTORY_INBOX_BATCH_SIZE": "Messages the inventory consumer applies per transaction (500).",
    "INVENTORY_INBOX_PREFETCH": "Unacked messages the broker may push to the inventory consumer "
    "(1000).",
    "INVENTORY_INBOX_MAX_ATTEMPTS": "Deliveries before a failing message is dead-lettered (5).",
    "INVENTORY_INBOX_RETRY_BACKOFF": "First retry delay of a failing message, in seconds (0.5).",
    "DEMO_INVENTORY_PORT": "`make run`: the inventory service's port (8003).",
    "MONOLITH_INBOX_QUEUE": "The monolith's inbox queue for reverse sync (default "
    "`monolith.events`).",
    "MONOLITH_INBOX_BATCH_SIZE": "Messages the monolith's consumer applies per transaction (500).",
    "MONOLITH_INBOX_RETRY_BACKOFF": "First retry delay in the monolith's consumer, seconds (0.5).",
    "STRANGLER_GATEWAY_OPTIONS": "A JSON object merged over `STRANGLER_GATEWAY` (e.g. "
    '`{"ALLOWED_HOSTS": ["shop.example.com"]}`).',
    "STRANGLER_GATEWAY_TOKEN": "Bearer token of the gateway's registration and admin endpoints; "
    "wins over `REGISTRATION_TOKEN`.",
    "STRANGLER_GATEWAY_ROUTES": "Routing table of `strangler.gateway.asgi:application` when served "
    "by another ASGI server (a YAML file or `db`).",
    "STRANGLER_IDENTITY_SIGNING_KEY": "The token issuer's Ed25519 private key (a PEM file or "
    "the PEM text); the monolith only. Default `var/identity/signing.pem`, made on first use "
    "while DEBUG is on (`manage.py identity_keys`).",
    "STRANGLER_IDENTITY_VERIFYING_KEYS": "Comma-separated public keys every side accepts tokens "
    "signed with: PEM files or folders of `*.pem` (default `var/identity/public`); list the "
    "current and the next key during a rotation.",
    "STRANGLER_IDENTITY_TOKEN_LIFETIME": "Seconds an access token from `POST /api/auth/token/` "
    "is valid (default 3600).",
    "STRANGLER_INTERNAL_CREDENTIALS": 'JSON `{"<caller name>": ["<key>", "<next key>"]}`: '
    "who may call this side's `/internal/` endpoints (reconcile, copy, cutover), each caller with "
    "a key of its own; list two keys while one is rotated (docs/reference/operations.md).",
    "STRANGLER_INTERNAL_KEY": "This side's own key when it calls the other side's `/internal/` "
    "endpoints; the other side lists it under this side's `STRANGLER_SERVICE_NAME`.",
    "STRANGLER_INTERNAL_TOKEN": "One secret shared by every caller of the `/internal/` endpoints "
    "(before per-caller credentials); still accepted while set, `sync.W002` warns outside DEBUG.",
    "STRANGLER_RUN_MODE": "`processes` (default: `outbox_relay` and `consume_events`) or "
    "`celery`: the settings schedule the relay task for `celery beat`, and `make run` starts "
    "`deploy/Procfile.celery` (docs/howto/run-with-celery.md).",
    "STRANGLER_CELERY_QUEUE": "The Celery queue of the kit's tasks (default "
    "`<STRANGLER_SERVICE_NAME>.strangler`); a queue per side.",
    "STRANGLER_RELAY_EVERY": "Seconds between the relay's beat ticks, and each tick's expiry "
    "(default `1`).",
    "STRANGLER_TRACE_FILE": "Tracing on (the `otel` extra): append one JSON object per finished "
    "span to this file (docs/howto/trace-a-request.md). OTLP export: the standard "
    "`OTEL_EXPORTER_OTLP_ENDPOINT`.",
    "OTEL_SERVICE_NAME": "The traces' `service.name` (default: `STRANGLER_SERVICE_NAME`, "
    "`gateway` for the gateway).",
    "STRANGLER_AUTOPILOT_PLANS": "The autopilot's plans: a YAML file of `{context: plan}` "
    "(default `deploy/autopilot.yaml`; docs/howto/migrate-by-plan.md).",
    "STRANGLER_AUTOPILOT_INTERVAL": "Seconds between two evaluations of `autopilot run` "
    "(default 5).",
    "STRANGLER_AUTOPILOT_LEASE_SECONDS": "Seconds an autopilot controller holds a run without "
    "renewing its lease before another may take it over (default 30).",
    "STRANGLER_GATEWAY_URL": "The gateway's base URL for the autopilot: its `/metrics` feed the "
    "canary gates and route changes are applied through its admin API.",
    "DEMO_GATEWAY_PORT": "`make run`: the gateway's port (8000).",
    "DEMO_MONOLITH_PORT": "`make run`: the monolith's port (8001).",
    "DEMO_CATALOG_PORT": "`make run`: the catalog service's port (8002).",
    "DEMO_BACKFILL": "`make run`: `0` leaves the catalog service empty on the first start (the "
    "tutorial backfills it by hand).",
}
ENV_SOURCES = [
    "strangler/environment.py",
    "strangler/settings_blocks.py",
    "monolith/config/settings.py",
    "extracted/catalog/config/settings.py",
    "extracted/inventory/config/settings.py",
    "strangler/*/conf.py",
    "strangler/*/*.py",
    "deploy/demo.py",
]
_ENV_READ = re.compile(
    r"(?:os\.environ\.get|os\.environ\[|env_bool|env_int|env_list|database_from_env)"
    r"\(?\s*\"([A-Z][A-Z0-9_]+)\""
)
# Variables a settings module names for a helper of strangler.settings_blocks to read:
# service_databases(url_variable="X"), peers_from_env({"context": "X"}).
_ENV_NAMED = re.compile(r"url_variable=\"([A-Z][A-Z0-9_]+)\"")
_PEERS_FROM_ENV = re.compile(r"peers_from_env\(\s*\{([^}]*)\}")
_QUOTED_NAME = re.compile(r":\s*\"([A-Z][A-Z0-9_]+)\"")
# ...and prefixed ones: a helper reads f"{env_prefix}_INBOX_QUEUE", a module passes
# env_prefix="CATALOG", so the module reads CATALOG_INBOX_QUEUE.
_ENV_PREFIXED_READ = re.compile(r"\(\s*f\"\{env_prefix\}(_[A-Z0-9_]+)\"")
_ENV_PREFIX = re.compile(r"env_prefix=\"([A-Z][A-Z0-9_]*)\"")


class StaleReferenceError(Exception):
    """A generated page differs from what the code says now."""


# --- commands -------------------------------------------------------------------------------------


def describe_commands() -> dict[str, Any]:
    """In a child process with DJANGO_SETTINGS_MODULE set: our commands and their arguments."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import get_commands, load_command_class

    described = {}
    for name, app in sorted(get_commands().items()):
        if not app.startswith(OWN_PACKAGES):
            continue
        command = load_command_class(app, name)
        parser = command.create_parser("manage.py", name)
        arguments = []
        for action in parser._actions:
            if action.dest in COMMON_OPTIONS or action.help == argparse.SUPPRESS:
                continue
            default = action.default
            if default in (None, False, argparse.SUPPRESS) or action.option_strings == []:
                default = None
            arguments.append(
                {
                    "flags": action.option_strings or [action.dest],
                    "metavar": None if action.nargs == 0 else (action.metavar or action.dest),
                    "positional": not action.option_strings,
                    "nargs": action.nargs if isinstance(action.nargs, str) else None,
                    "choices": list(action.choices) if action.choices else None,
                    "default": None if default is None else str(default),
                    "help": " ".join((action.help or "").split()),
                }
            )
        described[name] = {
            "app": app,
            "help": " ".join((command.help or "").split()),
            "arguments": arguments,
        }
    return described


def project_commands(project: str) -> dict[str, Any]:
    settings, _ = PROJECTS[project]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings}
    result = subprocess.run(
        [sys.executable, __file__, "--describe-commands"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise SystemExit(f"listing the {project}'s commands failed:\n{result.stderr}")
    return json.loads(result.stdout)


def usage(name: str, arguments: list[dict[str, Any]]) -> str:
    parts = [name]
    for argument in arguments:
        if argument["positional"]:
            word = argument["metavar"]
            parts.append(f"[{word} ...]" if argument["nargs"] in ("*", "?") else word)
        else:
            flag = max(argument["flags"], key=len)
            value = f" {argument['metavar'].upper()}" if argument["metavar"] else ""
            parts.append(f"[{flag}{value}]")
    return " ".join(parts)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_commands(by_project: dict[str, dict[str, Any]]) -> str:
    names = sorted({name for commands in by_project.values() for name in commands})
    lines = [
        "# Command reference",
        "",
        "<!-- Generated by docs/reference/generate_reference.py from the commands' own parsers;"
        " do not edit. -->",
        "",
        "Every management command strangler-kit adds, with its options, as `--help` prints them.",
        "Run a command in the project it belongs to: the monolith (`python manage.py NAME`) or",
        "the catalog service (`python extracted/catalog/manage.py NAME`); commands of the",
        "reusable `strangler` apps exist in every project that installs the app. Every command",
        "also takes Django's common options (`-v/--verbosity`, `--settings`, `--pythonpath`,",
        "`--traceback`, `--no-color`, `--force-color`, `--skip-checks`). Django's own commands",
        "(`migrate`, `runserver`, ...) are documented by Django.",
        "",
        "| command | app | projects |",
        "| --- | --- | --- |",
    ]
    for name in names:
        where = [p for p in PROJECTS if name in by_project[p]]
        app = next(by_project[p][name]["app"] for p in where)
        lines.append(f"| [`{name}`](#{name}) | `{app}` | {', '.join(where)} |")
    for name in names:
        where = [p for p in PROJECTS if name in by_project[p]]
        spec = by_project[where[0]][name]
        lines += ["", f"## {name}", ""]
        runs = " or ".join(f"`{PROJECTS[p][1]} {name}`" for p in where)
        lines += [f"Run as {runs}.", ""]
        lines += [spec["help"] or "(no description)", ""]
        lines += ["```", usage(name, spec["arguments"]), "```"]
        if spec["arguments"]:
            lines += ["", "| argument | default | meaning |", "| --- | --- | --- |"]
            for argument in spec["arguments"]:
                flags = ", ".join(f"`{flag}`" for flag in argument["flags"])
                if argument["choices"]:
                    flags += " (" + " \\| ".join(f"`{c}`" for c in argument["choices"]) + ")"
                default = f"`{argument['default']}`" if argument["default"] is not None else ""
                lines.append(f"| {flags} | {cell(default)} | {cell(argument['help'])} |")
    return "\n".join(lines) + "\n"


# --- settings -------------------------------------------------------------------------------------


def conf_defaults(path: Path) -> tuple[str, list[tuple[str, str, str]]]:
    """(STRANGLER_* setting name, [(key, default source, description)]) of one conf.py."""
    source = path.read_text()
    setting = re.search(r"getattr\(settings, \"(STRANGLER_[A-Z_]+)\"", source)
    if setting is None:
        raise SystemExit(f"{path}: no getattr(settings, 'STRANGLER_...') found")
    lines = source.splitlines()
    tree = ast.parse(source)
    entries: list[tuple[str, str, str]] = []
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if not (isinstance(target, ast.Name) and target.id == "DEFAULTS"):
            continue
        assert isinstance(node.value, ast.Dict), f"{path}: DEFAULTS is not a dict literal"
        comment: list[str] = []
        previous_end = node.value.lineno
        for key, value in zip(node.value.keys, node.value.values, strict=True):
            assert isinstance(key, ast.Constant), f"{path}: DEFAULTS keys must be strings"
            comment = []
            for number in range(key.lineno - 1, previous_end, -1):
                text = lines[number - 1].strip()
                if not text.startswith("#"):
                    break
                comment.insert(0, text.lstrip("# ").rstrip())
            default = " ".join((ast.get_source_segment(source, value) or "").split())
            entries.append((str(key.value), default, " ".join(comment)))
            previous_end = value.end_lineno or value.lineno
    if not entries:
        raise SystemExit(f"{path}: no DEFAULTS dict found")
    # A key without a comment of its own is described by the comment above it when that one
    # names it or one of its words ("Active health checks: path, interval and timeout").
    filled = []
    described, group = "", ""
    for key, default, description in entries:
        if description:
            described, group = key, description
        elif described and shares_comment(key, described, group):
            description = f"See `{described}`."
        else:
            description = "(no description in conf.py)"
        filled.append((key, default, description))
    return setting.group(1), filled


def shares_comment(key: str, described: str, comment: str) -> bool:
    if key in comment:
        return True
    own = key.lower().split("_")
    shared = described.lower().split("_")
    while own and shared and own[0] == shared[0]:
        own, shared = own[1:], shared[1:]
    words = set(re.findall(r"[a-z]+", comment.lower()))
    return any(word in words for word in own)


def environment_variables() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    paths = [
        path
        for pattern in ENV_SOURCES
        for path in sorted(ROOT.glob(pattern))
        if "migrations" not in path.parts and "management" not in path.parts
    ]
    suffixes = sorted(
        {suffix for path in paths for suffix in _ENV_PREFIXED_READ.findall(path.read_text())}
    )
    for path in paths:
        text = path.read_text()
        names = _ENV_READ.findall(text) + _ENV_NAMED.findall(text)
        for peers in _PEERS_FROM_ENV.findall(text):
            names += _QUOTED_NAME.findall(peers)
        names += [prefix + suffix for prefix in _ENV_PREFIX.findall(text) for suffix in suffixes]
        for name in names:
            found.setdefault(name, [])
            relative = str(path.relative_to(ROOT))
            if relative not in found[name]:
                found[name].append(relative)
    found.pop("DJANGO_SETTINGS_MODULE", None)
    return found


def render_settings() -> str:
    lines = [
        "# Settings reference",
        "",
        "<!-- Generated by docs/reference/generate_reference.py from strangler/*/conf.py and the"
        " settings modules; do not edit. -->",
        "",
        "Each reusable app of `strangler` reads one Django setting, a dict whose keys override",
        "the defaults below (its `conf.py`); a misspelt key or a bad value fails the system",
        "checks. The projects' settings modules read the environment variables at the end of",
        "this page (12-factor).",
    ]
    for path in sorted(ROOT.glob("strangler/*/conf.py")):
        setting, entries = conf_defaults(path)
        app = f"strangler.{path.parent.name}"
        lines += ["", f"## {setting}", "", f"Read by `{app}` (`{path.relative_to(ROOT)}`).", ""]
        lines += ["| key | default | meaning |", "| --- | --- | --- |"]
        for key, default, description in entries:
            lines.append(f"| `{key}` | `{cell(default)}` | {cell(description)} |")
    variables = environment_variables()
    missing = sorted(set(variables) - set(ENVIRONMENT))
    if missing:
        raise SystemExit(
            f"environment variables without a description: {', '.join(missing)}; "
            f"add them to ENVIRONMENT in {Path(__file__).relative_to(ROOT)}"
        )
    lines += [
        "",
        "## Environment variables",
        "",
        "| variable | meaning | read in |",
        "| --- | --- | --- |",
    ]
    for name in sorted(variables):
        files = ", ".join(f"`{f}`" for f in variables[name])
        lines.append(f"| `{name}` | {cell(ENVIRONMENT[name])} | {files} |")
    return "\n".join(lines) + "\n"


# --- entry point ----------------------------------------------------------------------------------


def pages() -> dict[Path, str]:
    by_project = {project: project_commands(project) for project in PROJECTS}
    return {COMMANDS_PAGE: render_commands(by_project), SETTINGS_PAGE: render_settings()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    parser.add_argument("--describe-commands", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.describe_commands:
        # Paths in help texts name this checkout; the page must not depend on where it lives.
        print(json.dumps(describe_commands()).replace(str(ROOT), "."))
        return 0
    stale = []
    for path, text in pages().items():
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
    relative = ", ".join(str(p.relative_to(ROOT)) for p in stale)
    if args.check:
        if stale:
            print(f"stale: {relative}; run python {Path(__file__).relative_to(ROOT)}")
            return 1
        print("the reference pages are current")
        return 0
    print(f"wrote {relative}" if stale else "the reference pages were already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
