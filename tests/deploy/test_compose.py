"""The deployment files: the compose file, the image and the demo Procfile name real things.

`docker compose config` validates the compose file when the compose plugin is installed; without
it (no Docker here, or an engine without the plugin) the same file is loaded and interpolated as
compose would, and every service is checked: its image, its command (each a real management
command of the right project, or a real WSGI module), its health check and its dependencies.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from strangler.gateway.routing import load_routing_file, parse_routing_table

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SECRETS = {
    "SECRET_KEY": "test-secret-key-" + "x" * 40,
    "RABBITMQ_PASSWORD": "rabbit-pass",
    "MONOLITH_DB_PASSWORD": "monolith-pass",
    "CATALOG_DB_PASSWORD": "catalog-pass",
    "CONTROL_DB_PASSWORD": "control-pass",
    "MONOLITH_INTERNAL_KEY": "monolith-internal-key",
    "CATALOG_INTERNAL_KEY": "catalog-internal-key",
}
MANAGE = {
    "manage.py": ROOT / "manage.py",
    "extracted/catalog/manage.py": ROOT / "extracted" / "catalog" / "manage.py",
    "extracted/inventory/manage.py": ROOT / "extracted" / "inventory" / "manage.py",
}
WORKER_PROCESSES = {"monolith-relay", "catalog-relay", "catalog-consumer", "monolith-consumer"}
WEB_PROCESSES = {"monolith", "catalog", "gateway"}
DATABASES = {"monolith-db", "catalog-db", "control-db"}
# The demo (deploy/Procfile) also runs the generated inventory service; compose does not yet.
DEMO_ONLY_PROCESSES = {"inventory", "inventory-consumer", "inventory-relay"}


def load_script(name: str) -> ModuleType:
    """A script of deploy/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", DEPLOY / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>\w+))")


class InterpolationError(ValueError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation: ${X}, ${X:-default}, ${X:?error}, $$ for a dollar."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg, current = match.group("op"), match.group("arg"), env.get(name)
        if op in (":?", "?") and not current:
            raise InterpolationError(f"${{{name}}}: {arg}")
        if op in (":-", "-") and not current:
            return arg
        return current or ""

    return _VARIABLE.sub(replace, value)


def compose_model(env: dict[str, str]) -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), env)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return compose_model(SECRETS)


@pytest.fixture(scope="module")
def project_commands() -> dict[str, set[str]]:
    """Management commands of each project, as its own manage.py lists them."""
    found = {}
    for label, manage in MANAGE.items():
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        result = subprocess.run(
            [sys.executable, str(manage), "help", "--commands"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        found[label] = set(result.stdout.split())
    return found


def command_steps(command: str | list[str]) -> list[list[str]]:
    """The programs a container command runs: `sh -c "a && b"` is two steps."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def check_step(argv: list[str], commands: dict[str, set[str]]) -> None:
    """A step is `python <manage.py> <real command> ...` or gunicorn on a real WSGI module."""
    if argv[0] == "python":
        manage, name = argv[1], argv[2]
        assert manage in MANAGE, f"{argv}: unknown manage.py {manage}"
        assert name in commands[manage], f"{argv}: {name} is not a command of {manage}"
    elif argv[0] == "gunicorn":
        module, _, attribute = argv[1].partition(":")
        assert attribute == "application", argv
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), f"{argv}: no module {module}"
        assert "gthread" in argv, f"{argv}: gthread workers keep the gateway's connections alive"
    else:
        raise AssertionError(f"unexpected program in {argv}")


def test_compose_file_is_valid(compose: dict[str, Any]) -> None:
    """`docker compose config` accepts the file when the plugin exists; else it loads as YAML."""
    docker = shutil.which("docker")
    plugin = docker and subprocess.run(
        [docker, "compose", "version"], capture_output=True, timeout=30
    )
    if plugin and plugin.returncode == 0:
        result = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
            env={**os.environ, **SECRETS},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    assert set(compose["services"]) == (
        WEB_PROCESSES
        | WORKER_PROCESSES
        | DATABASES
        | {"rabbitmq", "monolith-migrate", "catalog-migrate"}
    )
    assert set(compose["volumes"]) >= {f"{name}-data" for name in DATABASES} | {"rabbitmq-data"}


def test_compose_refuses_to_start_without_secrets() -> None:
    for missing in SECRETS:
        env = {name: value for name, value in SECRETS.items() if name != missing}
        with pytest.raises(InterpolationError, match=missing):
            compose_model(env)


def test_every_process_runs_a_real_command_of_its_project(
    compose: dict[str, Any], project_commands: dict[str, set[str]]
) -> None:
    app_services = WEB_PROCESSES | WORKER_PROCESSES | {"monolith-migrate", "catalog-migrate"}
    for name in app_services:
        service = compose["services"][name]
        assert service["image"] == "strangler-kit:latest", name
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
        steps = command_steps(service["command"])
        for argv in steps:
            check_step(argv, project_commands)
    relays = {n for n in WORKER_PROCESSES if "relay" in n}
    for name in relays:
        assert command_steps(compose["services"][name]["command"])[0][2] == "outbox_relay"
    for name in WORKER_PROCESSES - relays:
        assert command_steps(compose["services"][name]["command"])[0][2] == "consume_events"
    migrate = [s[2:] for s in command_steps(compose["services"]["monolith-migrate"]["command"])]
    assert ["migrate", "--database", "control", "--no-input"] in migrate
    assert ["setup_broker"] in migrate


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck", {})
        if name.endswith("-migrate"):
            assert check == {"disable": True} and service["restart"] == "no", name
            continue
        assert check.get("test"), f"{name} has no health check"
        test = " ".join(check["test"])
        if name in WEB_PROCESSES:
            assert re.search(r"/(healthz|readyz)'", test), name
        elif name in WORKER_PROCESSES:
            port = re.search(r":(\d+)/metrics", test)
            assert port, name
            assert f"--metrics-port {port.group(1)}" in service["command"], name


def test_dependencies_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert services[target].get("healthcheck", {}).get("test"), (name, target)
            else:
                assert condition == "service_completed_successfully", (name, target)
                assert services[target]["restart"] == "no", (name, target)
    for name in WEB_PROCESSES - {"gateway"} | WORKER_PROCESSES:
        depends = services[name]["depends_on"]
        assert {"rabbitmq", "monolith-migrate", "catalog-migrate"} <= set(depends), name
    assert set(services["gateway"]["depends_on"]) == {"monolith", "catalog"}


def test_each_database_url_points_at_its_own_server(compose: dict[str, Any]) -> None:
    env = compose["services"]["monolith"]["environment"]
    assert env["DEBUG"] == "false"
    assert env["SECRET_KEY"] == SECRETS["SECRET_KEY"]
    assert env["DATABASE_URL"].startswith("postgres://monolith:monolith-pass@monolith-db:5432/")
    assert env["CATALOG_DATABASE_URL"].startswith("postgres://catalog:catalog-pass@catalog-db:")
    assert env["STRANGLER_CONTROL_DATABASE_URL"].startswith("postgres://control:control-pass@")
    assert env["BROKER_URL"] == "amqp://strangler:rabbit-pass@rabbitmq:5672/%2F"
    gateway_env = compose["services"]["gateway"]["environment"]
    assert gateway_env["DATABASE_URL"] == env["DATABASE_URL"]  # merged from the shared block


def test_each_side_calls_the_other_with_a_key_of_its_own(compose: dict[str, Any]) -> None:
    sides = {
        "monolith": ("monolith", "catalog-service"),
        "catalog": ("catalog-service", "monolith"),
    }
    keys = {"monolith": "monolith-internal-key", "catalog-service": "catalog-internal-key"}
    for name, service in compose["services"].items():
        side = name.split("-")[0]
        if side not in sides or name.endswith("-db"):
            continue
        me, other = sides[side]
        env = service["environment"]
        assert "STRANGLER_INTERNAL_TOKEN" not in env, name
        assert env["STRANGLER_INTERNAL_KEY"] == keys[me], name
        assert json.loads(env["STRANGLER_INTERNAL_CREDENTIALS"]) == {other: [keys[other]]}, name
    assert "STRANGLER_INTERNAL_KEY" not in compose["services"]["gateway"]["environment"]


def test_compose_routing_table_is_accepted_by_the_gateway(compose: dict[str, Any]) -> None:
    table = load_routing_file(DEPLOY / "routes.compose.yaml")
    for backend in table.backends.values():
        for instance in backend.urls:
            host = instance.split("//", 1)[1].split(":", 1)[0]
            assert host in compose["services"], f"{instance} is not a compose service"


def test_dockerfile_is_multi_stage_small_and_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert stages == ["python:3.11-slim", "python:3.11-slim"], stages
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0")), users
    assert re.search(r"^HEALTHCHECK ", text, flags=re.MULTILINE)
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which does not exist"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var"} <= set(ignored)


def test_procfile_processes_run_real_commands(project_commands: dict[str, set[str]]) -> None:
    stack = load_script("stack")
    entries = stack.parse_procfile(DEPLOY / "Procfile")
    names = {entry.name for entry in entries}
    assert names == WEB_PROCESSES | WORKER_PROCESSES | DEMO_ONLY_PROCESSES
    for entry in entries:
        argv, _ = stack.command_line(entry, {"PYTHON": "python"})
        check_step(argv, project_commands)
        if argv[2] == "runserver":
            assert argv[-1].startswith("127.0.0.1:"), "the demo binds loopback only"


def test_procfile_variables_expand_with_defaults_and_assignments() -> None:
    stack = load_script("stack")
    entry = stack.Entry("web", "A=1 B=${PORT:-80} ${PYTHON} run --port ${PORT:-8000}")
    argv, env = stack.command_line(entry, {"PYTHON": "/bin/py"})
    assert argv == ["/bin/py", "run", "--port", "8000"]
    assert (env["A"], env["B"]) == ("1", "80")
    argv, _ = stack.command_line(entry, {"PYTHON": "/bin/py", "PORT": "9"})
    assert argv[-1] == "9"
    with pytest.raises(stack.ProcfileError, match="MISSING"):
        stack.command_line(stack.Entry("x", "run ${MISSING}"), {})


@pytest.mark.parametrize("context", ["catalog", "inventory"])
@pytest.mark.parametrize("mode", ["monolith", "shadow", "canary", "service"])
def test_demo_routing_tables_are_accepted_by_the_gateway(mode: str, context: str) -> None:
    demo = load_script("demo")
    ports = demo.DemoPorts(gateway=8000, monolith=8001, catalog=8002, inventory=8003)
    others = {"catalog": ("canary", 10.0)} if context == "inventory" else {}
    raw = demo.routing_table(ports, mode, 25.0, context=context, others=others)
    table = parse_routing_table(raw, source=mode)
    own = [r for r in table.routes if r.prefix == f"/api/{context}/"]
    assert own[0].mode == mode
    assert own[-1].matches("POST", f"/api/{context}/x/")
    writes_to = "service" if mode == "service" else "monolith"
    assert own[-1].mode == writes_to, "writes follow the writer, never shadowed"
    assert table.backends[context].urls == (
        f"http://127.0.0.1:{8002 if context == 'catalog' else 8003}",
    )
    if context == "inventory":
        assert next(r.mode for r in table.routes if r.prefix == "/api/catalog/") == "canary"


# --- Celery mode: deploy/compose.celery.yaml over the base file, deploy/Procfile.celery ----------

CELERY_OVERRIDE = DEPLOY / "compose.celery.yaml"
CELERY_APPS = {  # each side's Celery app, and the settings it configures itself from
    "monolith.config.celery:app": ROOT / "monolith" / "config" / "settings.py",
    "extracted.catalog.config.celery:app": ROOT / "extracted/catalog/config/settings.py",
    "extracted.inventory.config.celery:app": ROOT / "extracted/inventory/config/settings.py",
}
SIDE_APPS = {
    "monolith": "monolith.config.celery:app",
    "catalog": "extracted.catalog.config.celery:app",
    "inventory": "extracted.inventory.config.celery:app",
}


def merge(base: Any, override: Any) -> Any:
    """Compose's merge of two files: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


def kit_queue(app: str) -> str:
    """The kit's Celery queue a project's settings choose by default: <service name>.strangler."""
    settings = CELERY_APPS[app].read_text()
    found = re.search(r'^STRANGLER_SERVICE_NAME = "([^"]+)"', settings, flags=re.MULTILINE)
    assert found, f"{CELERY_APPS[app]} names no STRANGLER_SERVICE_NAME"
    return f"{found.group(1)}.strangler"


def check_celery_step(argv: list[str]) -> tuple[str, str]:
    """`celery -A <our app> worker|beat ...` (or `python -m celery ...`); (app, subcommand)."""
    if argv[:3] in (["python", "-m", "celery"], [sys.executable, "-m", "celery"]):
        argv = ["celery", *argv[3:]]
    assert argv[0] == "celery" and argv[1] == "-A", argv
    app, command = argv[2], argv[3]
    assert app in CELERY_APPS, f"{argv}: unknown Celery app {app}"
    assert command in {"worker", "beat"}, argv
    if command == "worker":
        queues = argv[argv.index("-Q") + 1].split(",")
        assert kit_queue(app) in queues, f"{argv}: the worker must take the kit's queue"
        assert "--inbox-health-port" in argv, f"{argv}: the consumer's probe is off"
    else:
        assert argv[argv.index("-s") + 1], argv
    return app, command


@pytest.fixture(scope="module")
def celery_worker_options() -> dict[str, str]:
    """`celery worker --help` of each app: the inbox step's options are really installed."""
    found = {}
    for app in CELERY_APPS:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        result = subprocess.run(
            [sys.executable, "-m", "celery", "-A", app, "worker", "--help"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        found[app] = result.stdout
    return found


def test_compose_celery_mode_runs_beat_and_a_worker_per_side(
    celery_worker_options: dict[str, str],
) -> None:
    docker = shutil.which("docker")
    plugin = docker and subprocess.run(
        [docker, "compose", "version"], capture_output=True, timeout=30
    )
    if plugin and plugin.returncode == 0:
        result = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), "-f", str(CELERY_OVERRIDE), "config", "-q"],
            env={**os.environ, **SECRETS},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    base = yaml.safe_load(COMPOSE.read_text())
    model = interpolate(merge(base, yaml.safe_load(CELERY_OVERRIDE.read_text())), SECRETS)
    services = model["services"]
    assert set(services) == set(base["services"]), "Celery mode changes commands, not services"
    for name in WORKER_PROCESSES:
        service = services[name]
        app, command = check_celery_step(command_steps(service["command"])[0])
        assert command == ("beat" if name.endswith("-relay") else "worker"), name
        assert app == SIDE_APPS[name.split("-")[0]], f"{name} runs the other side's app {app}"
        assert service["environment"]["STRANGLER_RUN_MODE"] == "celery", name
        assert service["environment"]["DATABASE_URL"], f"{name} lost the shared environment"
        assert set(service["depends_on"]) >= {"rabbitmq", "monolith-migrate", "catalog-migrate"}
        test = " ".join(service["healthcheck"]["test"])
        if command == "worker":
            port = re.search(r":(\d+)/healthz", test)
            assert port and f"--inbox-health-port {port.group(1)}" in service["command"], name
            assert "--inbox-health-port" in celery_worker_options[app]


def test_celery_procfile_runs_beat_and_a_worker_per_side(
    project_commands: dict[str, set[str]],
) -> None:
    stack = load_script("stack")
    entries = stack.parse_procfile(DEPLOY / "Procfile.celery")
    names = {entry.name for entry in entries}
    celery_names = {
        f"{side}-{role}"
        for side in ("monolith", "catalog", "inventory")
        for role in ("worker", "beat")
    }
    assert names == WEB_PROCESSES | {"inventory"} | celery_names
    for entry in entries:
        argv, env = stack.command_line(entry, {"PYTHON": "python"})
        if entry.name in WEB_PROCESSES | {"inventory"}:
            check_step(argv, project_commands)
            continue
        app, command = check_celery_step(argv)
        side = entry.name.split("-")[0]
        assert (app, command) == (SIDE_APPS[side], entry.name.split("-")[1]), entry
        if command == "beat":
            assert env["STRANGLER_RUN_MODE"] == "celery", "beat without the relay's schedule"


def test_stack_picks_the_procfile_of_the_run_mode() -> None:
    stack = load_script("stack")
    assert stack.default_procfile({}) == DEPLOY / "Procfile"
    assert stack.default_procfile({"STRANGLER_RUN_MODE": "processes"}) == DEPLOY / "Procfile"
    assert stack.default_procfile({"STRANGLER_RUN_MODE": "celery"}) == DEPLOY / "Procfile.celery"
    with pytest.raises(SystemExit, match="STRANGLER_RUN_MODE"):
        stack.default_procfile({"STRANGLER_RUN_MODE": "kubernetes"})
