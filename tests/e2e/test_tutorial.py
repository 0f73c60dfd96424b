"""The tutorial (docs/tutorial/README.md) works exactly as written: every command block, in order.

Each ```console block is run in order in a fresh checkout-like workspace (the repository's files
linked, with a var/ folder of its own), the way a reader would: the block marked
`<!-- test: background -->` (`make run`) is started in the background as the reader's first
terminal, `export` lines set the second terminal's variables, `^C` interrupts the first
terminal. Every command must exit 0 and print each line the tutorial shows, where `...` stands for
anything; a block marked `<!-- test: retry -->` is eventually consistent and is run again until
it does (with a deadline), as the tutorial tells the reader to.

The only liberty taken: the demo's ports (8000, 8001, 8002) are replaced by free ones, in the
commands and in the outputs, so the test never collides with a running `make run`. Databases and
the broker are the embedded ones, or fresh PostgreSQL databases and a RabbitMQ exchange and queues
of this test's own when the suite runs with DATABASE_URL=postgres://... and BROKER_URL=amqp://...
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.processes import PYTHON, ROOT, base_env, free_port

pytestmark = pytest.mark.e2e

TUTORIAL = ROOT / "docs" / "tutorial" / "README.md"
DEMO_PORTS = {
    "8000": "DEMO_GATEWAY_PORT",
    "8001": "DEMO_MONOLITH_PORT",
    "8002": "DEMO_CATALOG_PORT",
}
COMMAND_TIMEOUT = 300.0
BACKGROUND_READY_TIMEOUT = 300.0
RETRY_TIMEOUT = 90.0
ELLIPSIS = "..."
_MARKER = re.compile(r"<!--\s*test:\s*(?P<what>[\w-]+)\s*-->")


@dataclass
class Step:
    """One `$ command` (or `^C`) of a block and the lines the tutorial shows after it."""

    command: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    line: int
    marker: str
    steps: list[Step]


def parse_tutorial(text: str) -> list[Block]:
    """The ```console blocks in order, with the `<!-- test: ... -->` marker right above each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        start = index + 1
        above = lines[index - 1].strip() if index else ""
        marker = _MARKER.fullmatch(above)
        index += 1
        steps: list[Step] = []
        while lines[index].strip() != "```":
            line = lines[index]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\"):  # a command continued on the next line
                    index += 1
                    command = command[:-1] + lines[index]
                steps.append(Step(command))
            elif line.strip() == "^C":
                steps.append(Step("^C"))
            else:
                assert steps, f"{TUTORIAL.name}:{index + 1}: output before any command"
                if line.strip():
                    steps[-1].expected.append(line)
            index += 1
        blocks.append(Block(start, marker.group("what") if marker else "", steps))
        index += 1
    return blocks


def normalise(line: str) -> str:
    return " ".join(line.split())


def line_matches(expected: str, actual: str) -> bool:
    """`...` matches anything; the text around it must appear in order, anchored at both ends."""
    pattern = ".*".join(re.escape(normalise(part)) for part in expected.split(ELLIPSIS))
    return re.fullmatch(pattern, normalise(actual)) is not None


def missing_lines(expected: list[str], output: str) -> list[str]:
    """The shown lines that no line of the real output matches."""
    actual = output.splitlines()
    return [
        line
        for line in expected
        if line.strip() != ELLIPSIS and not any(line_matches(line, a) for a in actual)
    ]


@dataclass
class Reader:
    """The reader's two terminals: a background process and a shell with its variables."""

    workspace: Path
    env: dict[str, str]
    ports: dict[str, str]
    log_dir: Path
    background: subprocess.Popen[bytes] | None = None
    background_log: Path | None = None
    transcript: list[str] = field(default_factory=list)

    def localise(self, text: str) -> str:
        for port, variable in DEMO_PORTS.items():
            text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{self.env[variable]}")
        return text

    def run(self, step: Step) -> tuple[int, str]:
        command = self.localise(step.command)
        if command.startswith("export "):
            return self.export(command)
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.workspace,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
        )
        output = result.stdout.decode(errors="replace")
        self.transcript.append(f"$ {command}\n{output}")
        return result.returncode, output

    def export(self, command: str) -> tuple[int, str]:
        """`export NAME=value` in the second terminal; a value with a command substitution
        (`export TOKEN=$(curl ...)`) is expanded by bash, and the name stays set for the commands
        that follow."""
        if "$(" not in command:
            for assignment in shlex.split(command)[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return 0, ""
        found = re.match(r"export\s+([A-Za-z_][A-Za-z0-9_]*)=", command)
        assert found, f"cannot tell which variable `{command}` sets"
        name = found.group(1)
        result = subprocess.run(
            ["bash", "-c", f'{command}\nprintf "%s" "${name}"'],
            cwd=self.workspace,
            env=self.env,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
        )
        errors = result.stderr.decode(errors="replace")
        self.transcript.append(f"$ {command}\n{errors}")
        if result.returncode != 0 or not result.stdout:
            return result.returncode or 1, f"{name} came out empty\n{errors}"
        self.env[name] = result.stdout.decode()
        return 0, ""

    def start_background(self, step: Step) -> None:
        assert self.background is None, "the tutorial starts one background process"
        self.background_log = self.log_dir / "first-terminal.log"
        with self.background_log.open("wb") as log:
            self.background = subprocess.Popen(
                ["bash", "-c", self.localise(step.command)],
                cwd=self.workspace,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, like a terminal's job
            )

    def background_output(self) -> str:
        assert self.background_log is not None
        return self.background_log.read_text(errors="replace")

    def interrupt_background(self) -> str:
        """Ctrl-C in the first terminal: SIGINT to its foreground job, then wait for the end."""
        assert self.background is not None, "^C before anything runs in the first terminal"
        os.killpg(self.background.pid, signal.SIGINT)
        self.background.wait(60)
        return self.background_output()

    def stop(self) -> None:
        if self.background is not None and self.background.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.background.pid, signal.SIGINT)
            try:
                self.background.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.background.pid, signal.SIGKILL)
                self.background.wait(10)


def make_workspace(tmp_path: Path) -> Path:
    """A folder that looks like a clone: the repository's entries linked, var/ its own."""
    workspace = tmp_path / "strangler-kit"
    workspace.mkdir()
    for entry in ROOT.iterdir():
        if entry.name != "var":
            (workspace / entry.name).symlink_to(entry)
    (workspace / "var").mkdir()
    return workspace


@contextlib.contextmanager
def servers(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[None]:
    """Fresh PostgreSQL databases and RabbitMQ names when the suite runs on them; else embedded."""
    suffix = uuid.uuid4().hex[:10]
    for name in (
        "DATABASE_URL",
        "CATALOG_DATABASE_URL",
        "INVENTORY_DATABASE_URL",
        "STRANGLER_CONTROL_DATABASE_URL",
    ):
        env.pop(name, None)
    for name in (
        "STRANGLER_EXCHANGE",
        "STRANGLER_BROKER_FOLDER",
        "CATALOG_SERVICE_URL",
        "INVENTORY_SERVICE_URL",
    ):
        env.pop(name, None)
    databases: list[str] = []
    admin_url = ""
    if connection.vendor == "postgresql":
        admin_url = request.getfixturevalue("postgres_url")
        base = admin_url.rsplit("/", 1)[0]
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for variable, side in (
                ("DATABASE_URL", "monolith"),
                ("CATALOG_DATABASE_URL", "catalog"),
                ("INVENTORY_DATABASE_URL", "inventory"),
                ("STRANGLER_CONTROL_DATABASE_URL", "control"),
            ):
                name = f"tutorial_{side}_{suffix}"
                admin.execute(f'CREATE DATABASE "{name}"')
                databases.append(name)
                env[variable] = f"{base}/{name}"
    broker_names: dict[str, str] = {}
    if os.environ.get("BROKER_URL", "").startswith("amqp"):
        env["BROKER_URL"] = request.getfixturevalue("rabbitmq_url")
        broker_names = {
            "STRANGLER_EXCHANGE": f"tutorial-{suffix}.events",
            "CATALOG_INBOX_QUEUE": f"tutorial-{suffix}.catalog-service.events",
            "MONOLITH_INBOX_QUEUE": f"tutorial-{suffix}.monolith.events",
            "INVENTORY_INBOX_QUEUE": f"tutorial-{suffix}.inventory-service.events",
        }
        env.update(broker_names)
    else:
        for name in ("BROKER_URL", "CATALOG_INBOX_QUEUE", "MONOLITH_INBOX_QUEUE"):
            env.pop(name, None)
    try:
        yield
    finally:
        if broker_names:
            delete_broker_names(env["BROKER_URL"], broker_names)
        if databases:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                for name in databases:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_broker_names(url: str, names: dict[str, str]) -> None:
    """Remove this test's queues and exchanges from the shared RabbitMQ."""
    from kombu import Connection

    with Connection(url, connect_timeout=5) as broker:
        channel = broker.default_channel
        for variable in ("CATALOG_INBOX_QUEUE", "MONOLITH_INBOX_QUEUE"):
            for queue in (names[variable], f"{names[variable]}.dead"):
                channel.queue_delete(queue)
        exchange = names["STRANGLER_EXCHANGE"]
        for name in (exchange, f"{exchange}.dlx"):
            channel.exchange_delete(name)


@pytest.fixture
def reader(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Reader]:
    workspace = make_workspace(tmp_path)
    env = base_env(STRANGLER_VAR_DIR=str(workspace / "var"))
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("DEMO_BACKFILL", None)
    env.pop("MONOLITH_URL", None)
    # A clone has no token keys of the test session: the demo makes its own under var/identity/.
    env.pop("STRANGLER_IDENTITY_SIGNING_KEY", None)
    env.pop("STRANGLER_IDENTITY_VERIFYING_KEYS", None)
    for variable in DEMO_PORTS.values():
        env[variable] = str(free_port())
    with servers(request, env):
        reader = Reader(workspace, env, dict(DEMO_PORTS), tmp_path)
        try:
            yield reader
        finally:
            reader.stop()
            (tmp_path / "transcript.txt").write_text("\n".join(reader.transcript))


def test_tutorial_blocks_parse_into_commands_with_outputs() -> None:
    blocks = parse_tutorial(TUTORIAL.read_text())
    steps = [step for block in blocks for step in block.steps]
    assert [b.marker for b in blocks if b.marker == "background"] == ["background"]
    assert steps[-1].command == "^C"
    assert sum(1 for step in steps if step.expected) >= 20, "most commands show their output"
    assert all(b.marker in ("", "background", "retry") for b in blocks)


def test_matching_treats_dots_as_anything_and_anchors_the_rest() -> None:
    assert line_matches("done: ... writes catalog; took ...s", "done: svc writes catalog; took 1s")
    assert line_matches("pending 0", "pending              0")
    assert not line_matches("pending 0", "pending 0 more")
    assert not line_matches("exit status 0", "exit status 1")
    assert missing_lines(["a ...", "...", "zzz"], "a b\nc") == ["zzz"]


def test_the_tutorial_works_as_written(reader: Reader) -> None:
    started = time.monotonic()
    blocks = parse_tutorial(TUTORIAL.read_text())
    for block in blocks:
        where = f"{TUTORIAL.relative_to(ROOT)}:{block.line}"
        if block.marker == "background":
            (step,) = block.steps
            reader.start_background(step)
            wait_for_background(reader, step, where)
            continue
        deadline = time.monotonic() + (RETRY_TIMEOUT if block.marker == "retry" else 0)
        while True:
            failure = run_block(reader, block, where)
            if failure is None:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{failure}\n--- first terminal ---\n{tail(reader)}")
            time.sleep(0.5)
    assert reader.background is not None and reader.background.poll() is not None, (
        "the tutorial ends with the stack stopped"
    )
    print(f"\nthe tutorial ran in {time.monotonic() - started:.0f}s ({len(blocks)} blocks)")


def run_block(reader: Reader, block: Block, where: str) -> str | None:
    """None when every step of the block did what the tutorial shows; else what went wrong."""
    for step in block.steps:
        if step.command == "^C":
            output = reader.interrupt_background()
            status = 0
        else:
            status, output = reader.run(step)
        shown = [reader.localise(line) for line in step.expected]
        missing = missing_lines(shown, output)
        if status != 0 or missing:
            return (
                f"{where}: `{step.command}` exited {status}; lines not in its output: "
                f"{missing}\n--- output ---\n{output[-4000:]}"
            )
    return None


def wait_for_background(reader: Reader, step: Step, where: str) -> None:
    shown = [reader.localise(line) for line in step.expected]
    deadline = time.monotonic() + BACKGROUND_READY_TIMEOUT
    while True:
        missing = missing_lines(shown, reader.background_output())
        if not missing:
            return
        assert reader.background is not None
        if reader.background.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"{where}: `{step.command}` did not print {missing}\n{tail(reader)}"
            )
        time.sleep(0.2)


def tail(reader: Reader) -> str:
    return reader.background_output()[-6000:] if reader.background_log else "(not started)"
