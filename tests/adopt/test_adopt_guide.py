"""The adopt guide (docs/howto/adopt-in-your-project.md) works as written in a project not the shop.

The kit's wheel is built from the working tree and installed into a fresh virtualenv; the fixture
projects (tests/adopt/fixture: libraryproject, library-contracts, bookservice) are copied into a
folder of their own, and every ```sh block of the guide runs there, in order, each as one bash
script, as the `<!-- test: ... -->` marker above it says:

- `run`: must exit 0; `retry`: eventually consistent, run again until it exits 0 (deadline);
- `background`: a command the reader leaves running in another terminal; stopped by pid (Ctrl-C,
  then SIGKILL) when the test ends;
- `install`: `pip install strangler-kit`, with the built wheel's path for the distribution name;
- `environment servers` / `environment embedded`: the variables both sides read. The block of the
  run's mode is executed and its exports carry over to the next blocks; in servers mode the
  database URLs and the broker URL are replaced by databases, an exchange and queues of this test.

The only other liberty: the service's port (8001) is replaced by a free one. With DATABASE_URL
(postgres) and BROKER_URL (amqp) set, as in CI, the guide runs on PostgreSQL and RabbitMQ; without
them on SQLite and the embedded broker.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.processes import ROOT, free_port, wait_until

pytestmark = pytest.mark.e2e

GUIDE = ROOT / "docs" / "howto" / "adopt-in-your-project.md"
FIXTURE = Path(__file__).resolve().parent / "fixture"
SERVICE_PORT = "8001"
MARKERS = {"run", "retry", "background", "install", "environment servers", "environment embedded"}
COMMAND_TIMEOUT = 180.0
RETRY_TIMEOUT = 90.0
_MARKER = re.compile(r"<!--\s*test:\s*(?P<what>[\w -]+?)\s*-->")
# Variables the fixture's settings read: the test starts from none of them.
FIXTURE_VARIABLES = (
    "DATABASE_URL",
    "BOOKSERVICE_DATABASE_URL",
    "STRANGLER_CONTROL_DATABASE_URL",
    "BROKER_URL",
    "STRANGLER_VAR_DIR",
    "STRANGLER_EXCHANGE",
    "STRANGLER_BROKER_FOLDER",
    "STRANGLER_INTERNAL_TOKEN",
    "BOOKSERVICE_URL",
    "MONOLITH_INBOX_QUEUE",
    "BOOKSERVICE_INBOX_QUEUE",
    "DEBUG",
    "SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
    "PYTHONPATH",
    "VIRTUAL_ENV",
)


@dataclass
class Block:
    line: int
    marker: str
    script: str


def parse_guide(text: str) -> list[Block]:
    """Every ```sh block with the `<!-- test: ... -->` marker right above it, in order."""
    blocks: list[Block] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() != "```sh":
            continue
        above = lines[index - 1].strip() if index else ""
        marker = _MARKER.fullmatch(above)
        assert marker, f"{GUIDE.name}:{index + 1}: a ```sh block without a <!-- test: ... -->"
        end = lines.index("```", index + 1)
        blocks.append(Block(index + 1, marker.group("what"), "\n".join(lines[index + 1 : end])))
    return blocks


def exported_names(script: str) -> list[str]:
    return [
        shlex.split(line)[1].partition("=")[0]
        for line in script.splitlines()
        if line.startswith("export ")
    ]


@dataclass
class Servers:
    """Where this run's databases and broker are: its own names on the real servers, or none."""

    mode: str  # "servers" or "embedded"
    variables: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def servers(request: pytest.FixtureRequest) -> Iterator[Servers]:
    """Fresh PostgreSQL databases and RabbitMQ names when the suite runs on them; else embedded."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    on_rabbitmq = os.environ.get("BROKER_URL", "").startswith("amqp")
    if not (on_postgres and on_rabbitmq):
        yield Servers("embedded")
        return
    admin_url = request.getfixturevalue("postgres_url")
    broker_url = request.getfixturevalue("rabbitmq_url")
    suffix = uuid.uuid4().hex[:10]
    base = admin_url.rsplit("/", 1)[0]
    databases = {
        "DATABASE_URL": f"adopt_library_{suffix}",
        "BOOKSERVICE_DATABASE_URL": f"adopt_bookservice_{suffix}",
        "STRANGLER_CONTROL_DATABASE_URL": f"adopt_control_{suffix}",
    }
    names = {
        "STRANGLER_EXCHANGE": f"adopt-{suffix}.events",
        "MONOLITH_INBOX_QUEUE": f"adopt-{suffix}.monolith.events",
        "BOOKSERVICE_INBOX_QUEUE": f"adopt-{suffix}.bookservice.events",
    }
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for name in databases.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    variables = {variable: f"{base}/{name}" for variable, name in databases.items()}
    try:
        yield Servers("servers", {**variables, "BROKER_URL": broker_url, **names})
    finally:
        delete_broker_names(broker_url, names)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for name in databases.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_broker_names(url: str, names: dict[str, str]) -> None:
    """Remove this test's queues and exchanges from the shared RabbitMQ."""
    from kombu import Connection

    with Connection(url, connect_timeout=5) as broker:
        channel = broker.default_channel
        for variable in ("MONOLITH_INBOX_QUEUE", "BOOKSERVICE_INBOX_QUEUE"):
            for queue in (names[variable], f"{names[variable]}.dead"):
                channel.queue_delete(queue)
        exchange = names["STRANGLER_EXCHANGE"]
        for name in (exchange, f"{exchange}.dlx"):
            channel.exchange_delete(name)


@dataclass
class Reader:
    """The reader's shell in the folder holding the projects, and their other terminals."""

    workspace: Path
    env: dict[str, str]
    wheel: Path
    servers: Servers
    port: str
    log_dir: Path
    background: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    outputs: list[tuple[Block, str]] = field(default_factory=list)

    def localise(self, text: str) -> str:
        return text.replace(f"127.0.0.1:{SERVICE_PORT}", f"127.0.0.1:{self.port}")

    def shell(self, script: str, *, trailer: str = "") -> tuple[int, str]:
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", self.localise(script) + trailer],
            cwd=self.workspace,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
        )
        return result.returncode, result.stdout.decode(errors="replace")

    def run(self, block: Block) -> None:
        where = f"{GUIDE.relative_to(ROOT)}:{block.line}"
        kind, _, mode = block.marker.partition(" ")
        if kind == "environment":
            if mode == self.servers.mode:
                self.take_environment(block, where)
            return
        if kind == "install":
            assert block.script.strip() == "pip install strangler-kit", where
            block = Block(block.line, kind, f"pip install {shlex.quote(str(self.wheel))}")
        if kind == "background":
            self.start_background(block)
            return
        deadline = time.monotonic() + (RETRY_TIMEOUT if kind == "retry" else 0)
        while True:
            status, output = self.shell(block.script)
            self.check_background(where)
            if status == 0:
                self.outputs.append((block, output))
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{where}: exited {status}\n--- script ---\n{block.script}\n--- output ---\n"
                    f"{output[-6000:]}\n{self.background_logs()}"
                )
            time.sleep(1)

    def take_environment(self, block: Block, where: str) -> None:
        """Run the block, keep what it exported; servers mode: this test's databases and names."""
        status, output = self.shell(block.script, trailer="\nenv -0")
        assert status == 0, f"{where}: {output}"
        exported = dict(
            item.split("=", 1) for item in output.split("\0") if "=" in item and item.strip()
        )
        for name in exported_names(block.script):
            self.env[name] = exported[name]
        missing = set(self.servers.variables) - set(exported_names(block.script))
        assert missing <= {"STRANGLER_EXCHANGE", "MONOLITH_INBOX_QUEUE", "BOOKSERVICE_INBOX_QUEUE"}
        self.env.update(self.servers.variables)

    def start_background(self, block: Block) -> None:
        name = block.script.split("manage.py", 1)[-1].split()[0]
        log_path = self.log_dir / f"background-{len(self.background)}-{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                ["bash", "-c", "exec " + self.localise(block.script).strip()],
                cwd=self.workspace,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, like a terminal's job
            )
        self.background.append((block.script.strip(), process, log_path))

        def started() -> bool:
            self.check_background(f"{GUIDE.name}:{block.line}")
            return bool(log_path.read_text(errors="replace").strip())

        wait_until(started, timeout=60, what=f"`{block.script.strip()}` to start")

    def check_background(self, where: str) -> None:
        for command, process, _ in self.background:
            if process.poll() is not None:
                raise AssertionError(
                    f"{where}: `{command}` (another terminal) exited {process.returncode}\n"
                    f"{self.background_logs()}"
                )

    def background_logs(self) -> str:
        return "\n".join(
            f"--- {command} ---\n{log.read_text(errors='replace')[-3000:]}"
            for command, _, log in self.background
        )

    def stop(self) -> None:
        """Ctrl-C in each other terminal, then SIGKILL for any that does not stop."""
        for _, process, _ in reversed(self.background):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGINT)
        for _, process, _ in self.background:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def output_of(self, command: str) -> str:
        """The output of the last block whose script holds `command`."""
        found = [output for block, output in self.outputs if command in block.script]
        assert found, f"no block of the guide runs {command!r}"
        return found[-1]


def make_workspace(tmp_path: Path) -> Path:
    """The reader's folder: a copy of the fixture projects, nothing of the repository."""
    workspace = tmp_path / "work"
    ignore = shutil.ignore_patterns("__pycache__", "var", "docs", "*.egg-info")
    shutil.copytree(FIXTURE, workspace, ignore=ignore)
    return workspace


def fresh_virtualenv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    return venv


@pytest.fixture
def reader(request: pytest.FixtureRequest, tmp_path: Path, kit_wheel: Path) -> Iterator[Reader]:
    venv = fresh_virtualenv(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in FIXTURE_VARIABLES}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PYTHONUNBUFFERED="1",
    )
    with servers(request) as where:
        reader = Reader(make_workspace(tmp_path), env, kit_wheel, where, str(free_port()), tmp_path)
        try:
            yield reader
        finally:
            reader.stop()
            transcript = "\n".join(f"## line {b.line}\n{o}" for b, o in reader.outputs)
            (tmp_path / "transcript.txt").write_text(transcript + reader.background_logs())


def test_every_sh_block_of_the_guide_is_marked_and_the_journey_is_complete() -> None:
    blocks = parse_guide(GUIDE.read_text())
    assert {block.marker for block in blocks} <= MARKERS
    assert [b.marker for b in blocks].count("install") == 1
    servers_block, embedded_block = (
        next(b for b in blocks if b.marker == f"environment {mode}")
        for mode in ("servers", "embedded")
    )
    assert {"DATABASE_URL", "BROKER_URL", "STRANGLER_CONTROL_DATABASE_URL"} <= set(
        exported_names(servers_block.script)
    )
    assert "STRANGLER_VAR_DIR" in exported_names(embedded_block.script)
    scripts = "\n".join(block.script for block in blocks)
    for command in (
        "migrate --database control",
        "setup_broker",
        "outbox_relay",
        "consume_events",
        "backfill library",
        "reconcile library",
        "rebuild_projection",
        "replay_events",
        "check_contracts",
        "generate_asyncapi",
        "seams --bypass",
    ):
        assert command in scripts, f"the guide never runs {command}"


def test_the_adopt_guide_works_in_a_fresh_virtualenv(reader: Reader) -> None:
    started = time.monotonic()
    blocks = parse_guide(GUIDE.read_text())
    for block in blocks:
        reader.run(block)
        if block.marker == "install":
            assert_the_kit_comes_from_the_virtualenv(reader)
    seconds = time.monotonic() - started

    checks = reader.output_of("manage.py check")
    assert checks.count("System check identified no issues") == 2
    assert "contracts." not in checks
    contracts = reader.output_of("check_contracts")
    assert "contracts OK" in contracts
    asyncapi = reader.workspace / "libraryproject" / "docs" / "events" / "asyncapi.yaml"
    assert "library.book.upserted" in asyncapi.read_text()

    seams = reader.output_of("manage.py seams\n")
    assert "loans -> library  FK" in seams
    bypass = reader.output_of("seams --bypass")
    assert "library/management/commands/import_books.py" in bypass
    assert "bulk_create" in bypass and "library.Book" in bypass
    assert "outbox bypass logged" in reader.output_of("import_books")

    assert "library.book: 4 snapshot events recorded" in reader.output_of("backfill library")
    rebuilt = reader.output_of("rebuild_projection")
    assert "library.book: deleted 4 rows" in rebuilt
    assert re.search(r"replayed \d+ events to \S*bookservice\.events", rebuilt)
    reconciled = [output for block, output in reader.outputs if "reconcile" in block.script]
    assert len(reconciled) == 2
    assert all("library.book: equal (source 4 rows, target 4" in out for out in reconciled)
    print(f"\nthe adopt guide ran in {seconds:.0f}s ({len(blocks)} blocks, {reader.servers.mode})")


def assert_the_kit_comes_from_the_virtualenv(reader: Reader) -> None:
    """What runs is the installed wheel: no checkout on the path, no shop package importable."""
    probe = (
        "import importlib.util, strangler; print(strangler.__file__); "
        "print([m for m in ('monolith', 'extracted', 'shared_contracts') "
        "if importlib.util.find_spec(m)])"
    )
    status, output = reader.shell(f"python -c {shlex.quote(probe)}")
    assert status == 0, output
    location, shop = output.split()[:2]
    assert location.startswith(reader.env["VIRTUAL_ENV"]) and "site-packages" in location
    assert shop == "[]", output
