"""The benchmark harness: time budgets, tables, percentiles, JSON results, databases, processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.processes import ROOT, Process, ProcessGroup, free_port, wait_until
from tests.processes import base_env as process_env
from tests.servers import POSTGRES_URL, RABBITMQ_URL

__all__ = [
    "POSTGRES_URL",
    "PYTHON",
    "RABBITMQ_URL",
    "RESULTS_DIR",
    "ROOT",
    "BenchError",
    "Budget",
    "Process",
    "ProcessGroup",
    "Table",
    "base_env",
    "free_port",
    "wait_until",
]

PYTHON = sys.executable
RESULTS_DIR = ROOT / "bench" / "results"
WORK_DIR = ROOT / "var" / "bench"


class BenchError(RuntimeError):
    """A benchmark cannot run or its measurement is not valid; the message says why."""


# -- time ------------------------------------------------------------------------------------------


@dataclass
class Budget:
    """A wall-clock allowance: every load loop asks it how long it may still run."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def bounded(self, wanted: float, floor: float = 1.0) -> float:
        """`wanted` seconds, shortened to what is left (never below `floor`)."""
        return max(floor, min(wanted, self.remaining()))

    def spend(self, seconds: float) -> Budget:
        """A child budget of at most `seconds` out of what remains here."""
        return Budget(max(1.0, min(seconds, self.remaining())))


# -- statistics ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile with linear interpolation between ranks (numpy's default method)."""
    if not values:
        raise BenchError("percentile of no values: nothing was measured")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of latencies in milliseconds, rounded for reports."""
    return {
        "count": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 2),
        "p95_ms": round(percentile(values_ms, 95), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator rounded to 3 places, or None when either side is missing."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


# -- tables and results ----------------------------------------------------------------------------


@dataclass
class Table:
    """A result table: printed as aligned text, stored in JSON, rendered as Markdown."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise BenchError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    @staticmethod
    def cell(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            if abs(value) >= 100:
                return f"{value:,.0f}"
            return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    def text(self) -> str:
        cells = [self.columns, *[[self.cell(v) for v in row] for row in self.rows]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = [self.title]
        for n, row in enumerate(cells):
            padded = [
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(padded))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def markdown(self) -> str:
        head = "| " + " | ".join(self.columns) + " |"
        rule = "|" + "|".join(" --- " for _ in self.columns) + "|"
        body = ["| " + " | ".join(self.cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join([head, rule, *body])

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Table:
        return cls(data["title"], list(data["columns"]), [list(r) for r in data["rows"]])


def _command_output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip()


def machine_description() -> str:
    """CPU model, cores and memory of this machine, e.g. '2 x Intel Xeon …, 23 GiB'."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    model = " ".join(model.split())
    return f"{os.cpu_count()} x {model}{memory}, Python {platform.python_version()}"


def software_versions() -> dict[str, str]:
    """Versions of the servers and libraries a result depends on."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in ("Django", "kombu", "amqp", "psycopg", "uvicorn", "gunicorn", "django-cqrs"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    nginx = _command_output(["nginx", "-v"])
    if nginx:
        versions["nginx"] = nginx.rsplit("/", 1)[-1]
    wrk = _command_output(["wrk", "--version"])
    if wrk:
        versions["wrk"] = wrk.split()[1] if len(wrk.split()) > 1 else wrk
    return versions


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def write_result(name: str, payload: Mapping[str, Any], results_dir: Path | None = None) -> Path:
    """Write bench/results/<name>.json with the machine and date next to the numbers."""
    # BENCH_RESULTS_DIR lets bench/run_all.py (and the smoke test) redirect every benchmark.
    folder = results_dir or Path(os.environ.get("BENCH_RESULTS_DIR") or RESULTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "date": now_iso(),
        "machine": machine_description(),
        "versions": software_versions(),
        **payload,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def print_tables(tables: Sequence[Table]) -> None:
    for table in tables:
        print("\n" + table.text(), flush=True)


# -- names, databases, broker ----------------------------------------------------------------------


def run_id() -> str:
    """A short unique token for this run: database, exchange and queue names carry it."""
    return uuid.uuid4().hex[:8]


def database_url(name: str, base: str = POSTGRES_URL) -> str:
    """The URL of database `name` on the server of `base`."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin_connection() -> Any:
    import psycopg

    return psycopg.connect(POSTGRES_URL, autocommit=True)


def create_database(name: str) -> str:
    """Create an empty database; names carry the run's unique token, so none exists yet."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise BenchError(f"database name {name!r}: use lowercase letters, digits and _")
    with _admin_connection() as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return database_url(name)


def drop_database(name: str) -> None:
    """Drop a benchmark's database; warn (never hang) when the server cannot do it in 30 s.

    DROP DATABASE waits for every backend of the server to acknowledge a barrier, so one stuck
    client elsewhere on the server could hold a benchmark forever.
    """
    import psycopg

    try:
        with _admin_connection() as conn:
            conn.execute("SET statement_timeout = '30s'")
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except psycopg.Error as exc:
        print(f"[bench] could not drop database {name}: {exc}; drop it by hand", file=sys.stderr)


@contextlib.contextmanager
def databases(*names: str, keep: bool = False) -> Iterator[dict[str, str]]:
    """Create fresh databases for one benchmark; drop them afterwards (unless keep)."""
    urls: dict[str, str] = {}
    try:
        for name in names:
            urls[name] = create_database(name)
        yield urls
    finally:
        if not keep:
            for name in urls:
                with contextlib.suppress(Exception):
                    drop_database(name)


def delete_broker_objects(*, exchanges: Sequence[str] = (), queues: Sequence[str] = ()) -> None:
    """Remove this run's exchanges and queues so runs never accumulate on the broker."""
    import amqp

    parts = urlsplit(RABBITMQ_URL)
    conn = amqp.Connection(
        host=f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
        userid=parts.username or "guest",
        password=parts.password or "guest",
        virtual_host=(parts.path[1:] or "/") if parts.path not in ("", "/", "//") else "/",
    )
    conn.connect()
    try:
        channel = conn.channel()
        for queue in queues:
            with contextlib.suppress(Exception):
                channel.queue_delete(queue)
        for exchange in exchanges:
            with contextlib.suppress(Exception):
                channel.exchange_delete(exchange)
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def amqp_parameters(url: str = RABBITMQ_URL) -> dict[str, str]:
    """py-amqp Connection keyword arguments from an amqp:// URL."""
    parts = urlsplit(url)
    vhost = parts.path[1:] if parts.path not in ("", "/", "//") else "/"
    return {
        "host": f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
        "userid": parts.username or "guest",
        "password": parts.password or "guest",
        "virtual_host": vhost or "/",
    }


# -- processes -------------------------------------------------------------------------------------


def base_env(**overrides: str) -> dict[str, str]:
    """The environment of a benchmark's process: the caller's, plus this run's identity keys.

    Every side verifies bearer tokens (strangler.identity) and refuses to start without a public
    key; the benchmarks make one key pair per run, as the test session does.
    """
    return process_env(**{**identity_environment(), **overrides})


@functools.cache
def identity_environment() -> dict[str, str]:
    """STRANGLER_IDENTITY_* of a key pair made for this run (none when the caller set them)."""
    if os.environ.get("STRANGLER_IDENTITY_VERIFYING_KEYS"):
        return {}
    from tests.identity import make_identity_keys

    return make_identity_keys(WORK_DIR / "identity" / uuid.uuid4().hex[:8])


def work_dir(name: str) -> Path:
    """var/bench/<name>: logs and generated configuration of one benchmark run."""
    path = WORK_DIR / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def manage(
    argv: Sequence[str], env: Mapping[str, str], *, project: str = "manage.py", timeout: float = 300
) -> str:
    """Run a management command to completion; BenchError with its output if it fails."""
    done = subprocess.run(
        [PYTHON, project, *argv],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise BenchError(
            f"{project} {' '.join(argv)} failed ({done.returncode}):\n"
            f"{(done.stdout + done.stderr)[-3000:]}"
        )
    return done.stdout


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (and its reaped children) used so far."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks
    return 0.0


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all its live descendants (gunicorn and nginx workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(process_cpu_seconds(member) for member in tree)


def require_binary(name: str, package: str | None = None) -> str:
    """Path of an executable; BenchError naming the Debian package when it is missing."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else "")
    if not path:
        raise BenchError(
            f"{name} is not installed; `make bench` installs it (apt-get install {package or name})"
        )
    return path
