"""A small process manager for the demo stack: start every Procfile process, stop all on Ctrl-C.

Usage: python deploy/stack.py [--procfile deploy/Procfile] [--only NAME ...]
Each line of the Procfile is `name: command`. Output lines are prefixed with the process name.
When any process exits on its own, every other one is stopped and the exit status is non-zero.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
COLOURS = ["36", "33", "32", "35", "34", "31", "96", "93"]
STOP_GRACE_SECONDS = 10.0


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


def pump(name: str, colour: str, stream: IO[bytes], width: int, lock: threading.Lock) -> None:
    """Copy a child's output to ours, each line prefixed with the child's name."""
    label = f"{name:<{width}} |"
    prefix = f"\033[{colour}m{label}\033[0m " if sys.stdout.isatty() else f"{label} "
    for line in iter(stream.readline, b""):
        with lock:
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()


def run(entries: list[Entry]) -> int:
    width = max(len(e.name) for e in entries)
    lock = threading.Lock()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()

    def stop_all(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)

    for index, entry in enumerate(entries):
        child = subprocess.Popen(
            shlex.split(entry.command),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        children[entry.name] = child
        colour = COLOURS[index % len(COLOURS)]
        threading.Thread(
            target=pump, args=(entry.name, colour, child.stdout, width, lock), daemon=True
        ).start()
        print(f"{'stack':<{width}} | started {entry.name} (pid {child.pid}): {entry.command}")

    status = 0
    while not stopping.is_set():
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{'stack':<{width}} | {name} exited with status {child.returncode}")
                status = child.returncode or 1
                stopping.set()
                break
        stopping.wait(0.5)

    print(f"{'stack':<{width}} | stopping {len(children)} processes")
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
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procfile", type=Path, default=ROOT / "deploy" / "Procfile")
    parser.add_argument("--only", nargs="*", help="start only these process names")
    args = parser.parse_args()
    entries = parse_procfile(args.procfile)
    if args.only:
        unknown = set(args.only) - {e.name for e in entries}
        if unknown:
            parser.error(f"unknown process name(s): {', '.join(sorted(unknown))}")
        entries = [e for e in entries if e.name in args.only]
    return run(entries)


if __name__ == "__main__":
    sys.exit(main())
