"""A small process manager for the demo stack: start every Procfile process, stop all on Ctrl-C.

Usage: python deploy/stack.py [--procfile deploy/Procfile] [--only NAME ...] [--announce FILE]
The default Procfile follows STRANGLER_RUN_MODE: deploy/Procfile (`processes`, the default) or
deploy/Procfile.celery (`celery`: relays as beat-scheduled tasks, consumers as worker steps).
Each line of the Procfile is `name: [VAR=value ...] command`; `${NAME}` and `${NAME:-default}`
are expanded from the environment (`${PYTHON}` is this interpreter), leading `VAR=value` words set
variables for that process only. Output lines are prefixed with the process name. When any
process exits on its own, every other one is stopped and the exit status is non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
COLOURS = ["36", "33", "32", "35", "34", "31", "96", "93"]
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 120.0
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


PROCFILES = {"processes": "Procfile", "celery": "Procfile.celery"}


def default_procfile(env: dict[str, str]) -> Path:
    """The Procfile of the run mode STRANGLER_RUN_MODE names (`processes` unless set)."""
    mode = env.get("STRANGLER_RUN_MODE", "").strip().lower() or "processes"
    if mode not in PROCFILES:
        raise SystemExit(
            f"STRANGLER_RUN_MODE={mode!r}: use one of {', '.join(PROCFILES)} (or --procfile)."
        )
    return ROOT / "deploy" / PROCFILES[mode]


@dataclass(frozen=True)
class Entry:
    name: str
    command: str


def parse_procfile(path: Path) -> list[Entry]:
    """Entries of a Procfile; blank lines and # comments are ignored."""
    entries = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise SystemExit(f"{path}:{number}: expected `name: command`, got {raw!r}")
        entries.append(Entry(name.strip(), command.strip()))
    return entries


class ProcfileError(ValueError):
    """A Procfile line cannot be turned into a command."""


def expand(text: str, env: dict[str, str]) -> str:
    """Replace ${NAME} and ${NAME:-default}; an unset ${NAME} without a default is an error."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise ProcfileError(f"${{{name}}} is not set and has no default (write ${{{name}:-...}})")

    return _VARIABLE.sub(replace, text)


def command_line(entry: Entry, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of one entry: variables expanded, leading VAR=value words applied."""
    words = shlex.split(expand(entry.command, env))
    own_env = dict(env)
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        own_env[name] = value
    if not words:
        raise ProcfileError(f"{entry.name}: no command after the variable assignments")
    return words, own_env


def http_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def pump(name: str, colour: str, stream: IO[bytes], width: int, lock: threading.Lock) -> None:
    """Copy a child's output to ours, each line prefixed with the child's name."""
    label = f"{name:<{width}} |"
    prefix = f"\033[{colour}m{label}\033[0m " if sys.stdout.isatty() else f"{label} "
    for line in iter(stream.readline, b""):
        with lock:
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()


def run(entries: list[Entry], announce: Path | None = None) -> int:
    """Start every entry, stop them all on SIGINT/SIGTERM or when one exits; the exit status."""
    width = max(len(e.name) for e in [*entries, Entry("stack", "")])
    lock = threading.Lock()
    env = {"PYTHON": sys.executable, **os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        commands = {entry.name: command_line(entry, env) for entry in entries}
    except ProcfileError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 2
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()

    def stop_all(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)

    for index, entry in enumerate(entries):
        argv, child_env = commands[entry.name]
        child = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        children[entry.name] = child
        colour = COLOURS[index % len(COLOURS)]
        threading.Thread(
            target=pump, args=(entry.name, colour, child.stdout, width, lock), daemon=True
        ).start()
        with lock:
            print(f"{'stack':<{width}} | started {entry.name} (pid {child.pid})", flush=True)

    if announce is not None:
        threading.Thread(
            target=announce_when_ready, args=(announce, width, lock, stopping), daemon=True
        ).start()

    status = 0
    while not stopping.is_set():
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{'stack':<{width}} | {name} exited with status {child.returncode}")
                status = child.returncode or 1
                stopping.set()
                break
        stopping.wait(0.5)

    print(f"{'stack':<{width}} | stopping {len(children)} processes", flush=True)
    for child in children.values():
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, child in children.items():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{'stack':<{width}} | {name} did not stop in time; killing it")
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    print(f"{'stack':<{width}} | all {len(children)} processes stopped", flush=True)
    return status


def announce_when_ready(
    path: Path, width: int, lock: threading.Lock, stop: threading.Event
) -> None:
    """Wait for the URLs under "ready" in a JSON file to answer 2xx, then print its "lines"."""
    spec = json.loads(path.read_text())
    started = time.monotonic()
    waiting = list(spec.get("ready", []))
    while waiting and not stop.is_set():
        waiting = [url for url in waiting if not http_ready(url)]
        if waiting and time.monotonic() - started > READY_TIMEOUT_SECONDS:
            with lock:
                print(f"{'stack':<{width}} | still not ready: {', '.join(waiting)}", flush=True)
            return
        stop.wait(0.2)
    if stop.is_set():
        return
    with lock:
        print(f"{'stack':<{width}} | ready in {time.monotonic() - started:.1f}s", flush=True)
        for line in spec.get("lines", []):
            print(f"{'stack':<{width}} | {line}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--procfile",
        type=Path,
        help="default: deploy/Procfile, or deploy/Procfile.celery when STRANGLER_RUN_MODE=celery",
    )
    parser.add_argument("--only", nargs="*", help="start only these process names")
    parser.add_argument(
        "--announce",
        type=Path,
        help='JSON file {"ready": [urls], "lines": [text]}: print the lines once the URLs answer',
    )
    args = parser.parse_args()
    entries = parse_procfile(args.procfile or default_procfile(dict(os.environ)))
    if args.only:
        unknown = set(args.only) - {e.name for e in entries}
        if unknown:
            parser.error(f"unknown process name(s): {', '.join(sorted(unknown))}")
        entries = [e for e in entries if e.name in args.only]
    return run(entries, args.announce)


if __name__ == "__main__":
    sys.exit(main())
