"""Sync pipelines side by side: strangler-kit, the hand-written limit and django-cqrs, one run.

Each pipeline moves the same catalog product snapshots from a writer's PostgreSQL commits to a
service's PostgreSQL commits over RabbitMQ. Throughput is measured over a backlog (timestamps of
the service's own commits, so process start-up is not counted); lag is the service's apply time
minus the writer's commit stamp, while a paced writer commits at 25/50/75% of the kit's maximum.
The pipelines take turns (kit, limit, peer) at every step, so a noisy machine hurts all alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import limit_pipeline
from bench.common import (
    PYTHON,
    RABBITMQ_URL,
    BenchError,
    Budget,
    Process,
    ProcessGroup,
    Table,
    amqp_parameters,
    base_env,
    create_database,
    delete_broker_objects,
    drop_database,
    latency_summary,
    manage,
    print_tables,
    process_tree_cpu_seconds,
    ratio,
    run_id,
    wait_until,
    work_dir,
    write_result,
)
from bench.workload import DATAVERSION, EVENT_TYPE, PacedRun, paced, product_snapshot

KIT, LIMIT, PEER = "strangler-kit", "limit (hand-written)", "django-cqrs"
LOAD_FRACTIONS = (0.25, 0.5, 0.75)
WARMUP_SECONDS = 1.0
LARGE_BACKLOG = 1_000_000
DRAIN_SECONDS_MAX = 150.0  # per pipeline on the first backlog: time left for the large one


def _count(url: str, sql: str, params: Sequence[Any] = ()) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()


@dataclass
class Pipeline:
    """One pipeline: its databases, broker names and processes, and how to read its results."""

    name: str
    run: str
    group: ProcessGroup
    source_url: str = ""
    target_url: str = ""
    exchange: str = ""
    queue: str = ""
    databases: list[str] = field(default_factory=list)
    # SQL on the target: (applied_at, event_time) columns of the table that proves an apply.
    applied_table: str = ""
    applied_column: str = "applied_at"
    stamp_column: str = "event_time"

    def create_databases(self, slug: str) -> None:
        source, target = f"bench_{self.run}_{slug}_src", f"bench_{self.run}_{slug}_dst"
        self.source_url, self.target_url = create_database(source), create_database(target)
        self.databases = [source, target]

    # -- what every pipeline answers -------------------------------------------------------------
    def applied(self) -> int:
        return int(_count(self.target_url, f"SELECT count(*) FROM {self.applied_table}")[0])

    def wait_applied(self, total: int, timeout: float) -> int:
        """Wait until `total` events were applied or `timeout` passed; returns the count."""
        deadline = time.monotonic() + timeout
        count = self.applied()
        while count < total and time.monotonic() < deadline:
            time.sleep(0.2)
            count = self.applied()
            for process in self.group.processes:
                if process.name.startswith(self.prefix) and not process.alive():
                    raise BenchError(f"{process.name} died:\n{process.log()[-3000:]}")
        return count

    def window_rate(self, since: Any = None) -> tuple[int, float]:
        """(events applied, seconds between the first and last apply) on the target, counting
        only the applies after `since` (a timestamp of the target's clock) when given."""
        where, params = (
            ("", []) if since is None else (f"WHERE {self.applied_column} > %s", [since])
        )
        count, seconds = _count(
            self.target_url,
            f"SELECT count(*), extract(epoch FROM max({self.applied_column}) - "
            f"min({self.applied_column})) FROM {self.applied_table} {where}",
            params,
        )
        return int(count), float(seconds or 0.0)

    def cpu_seconds(self) -> dict[str, dict[int, float]]:
        """CPU seconds used so far by each running relay (publisher) and consumer process of
        this pipeline, its children included (django-cqrs's consumer works in a child)."""
        roles = {"relay": ("-relay", "-sync"), "consumer": ("-consumer", "-replica")}
        return {
            role: {
                process.pid: process_tree_cpu_seconds(process.pid)
                for process in self.group.processes
                if process.name.startswith(self.prefix.split("-")[0])
                and process.name.endswith(suffixes)
                and process.alive()
            }
            for role, suffixes in roles.items()
        }

    def lags_ms(self, since: Any) -> list[float]:
        with psycopg.connect(self.target_url, autocommit=True) as conn:
            rows = conn.execute(
                f"SELECT extract(epoch FROM {self.applied_column} - {self.stamp_column}) * 1000 "
                f"FROM {self.applied_table} WHERE {self.stamp_column} >= %s",
                [since],
            ).fetchall()
        return [float(r[0]) for r in rows]

    @property
    def prefix(self) -> str:
        """Names of this pipeline's long-running processes start with this."""
        raise NotImplementedError

    def teardown(self) -> None:
        delete_broker_objects(
            exchanges=[self.exchange, f"{self.exchange}.dlx"],
            queues=[self.queue, f"{self.queue}.dead", f"dead_letter_{self.queue}"],
        )
        for name in self.databases:
            drop_database(name)

    def discard_backlog(self) -> None:
        """Forget what is still pending at the source and queued, then let the consumer idle."""
        self.discard_pending_at_source()
        _purge_queue(self.queue)
        deadline = time.monotonic() + 30
        last = -1
        while time.monotonic() < deadline:  # idle = no new apply for half a second
            count = self.applied()
            if count == last:
                break
            last = count
            time.sleep(0.5)

    def discard_pending_at_source(self) -> None:
        raise NotImplementedError

    # -- per pipeline -----------------------------------------------------------------------------
    def setup(self) -> None:
        raise NotImplementedError

    def load_backlog(self, count: int, first_id: int = 1) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def write_paced(self, rate: float, seconds: float, first_id: int) -> PacedRun:
        raise NotImplementedError


class KitPipeline(Pipeline):
    """strangler-kit as shipped: monolith outbox, `outbox_relay`, the catalog's `consume_events`."""

    prefix = "kit-"

    def setup(self) -> None:
        self.create_databases("kit")
        self.exchange, self.queue = f"bench.{self.run}.kit", f"bench.{self.run}.kit.catalog"
        self.applied_table = "strangler_inbox_record"
        # Which side writes the catalog lives in a control database both sides share.
        control = f"bench_{self.run}_kit_ctl"
        control_url = create_database(control)
        self.databases.append(control)
        self.env = base_env(
            STRANGLER_CONTROL_DATABASE_URL=control_url,
            DEBUG="false",
            SECRET_KEY="benchmark-only",
            LOG_LEVEL="WARNING",
            BROKER_URL=RABBITMQ_URL,
            STRANGLER_EXCHANGE=self.exchange,
            DATABASE_URL=self.source_url,
            CATALOG_DATABASE_URL=self.target_url,
            CATALOG_INBOX_QUEUE=self.queue,
        )
        manage(["migrate", "--no-input", "-v", "0"], self.env)
        manage(["migrate", "--database", "control", "--no-input", "-v", "0"], self.env)
        service = "extracted/catalog/manage.py"
        manage(["migrate", "--no-input", "-v", "0"], self.env, project=service)
        manage(["setup_broker"], self.env, project=service)

    @staticmethod
    def _row(product_id: int) -> tuple[Any, ...]:
        subject = str(product_id)
        return (
            uuid.uuid4(),
            EVENT_TYPE,
            "monolith",
            subject,
            "catalog.product",
            1,
            zlib.crc32(f"catalog.product:{subject}".encode()) % 16,
            DATAVERSION,
            json.dumps(product_snapshot(product_id)),
        )

    _COLUMNS = (
        "event_id, event_type, source, subject, aggregate_type, aggregate_version, partition, "
        "dataversion, data, correlation_id, causation_id, traceparent, attempts, last_error, "
        "created_at"
    )

    def load_backlog(self, count: int, first_id: int = 1) -> None:
        with (
            psycopg.connect(self.source_url) as conn,
            conn.cursor() as cursor,
            cursor.copy(f"COPY strangler_outbox_event ({self._COLUMNS}) FROM STDIN") as copy,
        ):
            now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
            for n in range(first_id, first_id + count):
                copy.write_row((*self._row(n), "", "", "", 0, "", now))

    def discard_pending_at_source(self) -> None:
        with psycopg.connect(self.source_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE strangler_outbox_event SET published_at = clock_timestamp() "
                "WHERE published_at IS NULL"
            )

    def start(self) -> None:
        service = "extracted/catalog/manage.py"
        self.group.start("kit-consumer", [PYTHON, service, "consume_events"], self.env)
        self.group.start("kit-relay", [PYTHON, "manage.py", "outbox_relay"], self.env)

    def write_paced(self, rate: float, seconds: float, first_id: int) -> PacedRun:
        with psycopg.connect(self.source_url) as conn:

            def write(index: int, count: int) -> None:
                rows = [self._row(first_id + index + k) for k in range(count)]
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO strangler_outbox_event ({self._COLUMNS}) VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, '', '', '', 0, '', "
                        "clock_timestamp())",
                        rows,
                    )
                    # What record_event does: NOTIFY is delivered when this commit lands.
                    cursor.execute("SELECT pg_notify('strangler_outbox', '')")

            return paced(rate, seconds, write)


class LimitPipeline(Pipeline):
    """The hand-written limit of bench/limit_pipeline.py."""

    prefix = "limit-"

    def setup(self) -> None:
        self.create_databases("limit")
        self.exchange, self.queue = f"bench.{self.run}.limit", f"bench.{self.run}.limit.catalog"
        self.applied_table = "limit_inbox"
        limit_pipeline.create_schema(self.source_url, self.target_url)
        limit_pipeline.declare_topology(RABBITMQ_URL, self.exchange, self.queue)

    def load_backlog(self, count: int, first_id: int = 1) -> None:
        limit_pipeline.load_backlog(self.source_url, first_id, count)

    def discard_pending_at_source(self) -> None:
        with psycopg.connect(self.source_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE limit_outbox SET published_at = clock_timestamp() "
                "WHERE published_at IS NULL"
            )

    def start(self) -> None:
        module = [PYTHON, "-m", "bench.limit_pipeline"]
        common = ["--broker", RABBITMQ_URL, "--exchange", self.exchange]
        consume = [*module, "consume", "--db", self.target_url, *common, "--queue", self.queue]
        self.group.start("limit-consumer", [*consume, "--batch", "200"], base_env())
        relay = [*module, "relay", "--db", self.source_url, *common, "--batch", "500"]
        self.group.start("limit-relay", relay, base_env())

    def write_paced(self, rate: float, seconds: float, first_id: int) -> PacedRun:
        with psycopg.connect(self.source_url) as conn:
            return paced(
                rate,
                seconds,
                lambda index, count: limit_pipeline.write_events(conn, first_id + index, count),
            )


class CqrsPipeline(Pipeline):
    """django-cqrs: a master project publishing on commit, `cqrs_consume` in the replica."""

    prefix = "cqrs-replica"

    def setup(self) -> None:
        self.create_databases("cqrs")
        self.exchange, self.queue = f"bench.{self.run}.cqrs", f"bench.{self.run}.cqrs.replica"
        self.applied_table = "cqrs_replica_productref"
        self.stamp_column = "stamped_at"
        common = {"PEER_EXCHANGE": self.exchange, "PEER_QUEUE": self.queue}
        self.master_env = base_env(
            **common,
            RABBITMQ_URL=RABBITMQ_URL,
            PEER_DATABASE_URL=self.source_url,
            DJANGO_SETTINGS_MODULE="bench.peers.cqrs.master.settings",
        )
        self.replica_env = base_env(
            **common,
            RABBITMQ_URL=RABBITMQ_URL,
            PEER_DATABASE_URL=self.target_url,
            DJANGO_SETTINGS_MODULE="bench.peers.cqrs.replica.settings",
        )
        for env in (self.master_env, self.replica_env):
            self._django(["migrate", "--run-syncdb", "--no-input", "-v", "0"], env)

    def _django(self, argv: Sequence[str], env: dict[str, str], timeout: float = 600) -> str:
        return manage(["django", *argv], env, project="-m", timeout=timeout)

    def load_backlog(self, count: int, first_id: int = 1) -> None:
        self._django(["bench_load", "--count", str(count)], self.master_env)

    def start(self) -> None:
        self.group.start(
            "cqrs-replica", [PYTHON, "-m", "django", "cqrs_consume", "-w", "1"], self.replica_env
        )
        # The replica declares and binds its queue when it connects; publishing before that
        # would drop the messages (an unbound topic exchange routes nowhere).
        wait_until(self._queue_ready, timeout=60, what="the django-cqrs replica's queue")

    def _queue_ready(self) -> bool:
        import amqp

        connection = amqp.Connection(**amqp_parameters(RABBITMQ_URL))
        connection.connect()
        try:
            _, _, consumers = connection.channel().queue_declare(self.queue, passive=True)
            return consumers > 0
        except amqp.exceptions.NotFound:
            return False
        finally:
            connection.collect()

    def publish_backlog(self) -> Process:
        """`cqrs_sync`: django-cqrs's own command that sends committed rows to the replicas."""
        return self.group.start(
            "cqrs-sync",
            [PYTHON, "-m", "django", "cqrs_sync", "--cqrs-id", "bench_product", "--filter", "{}"],
            self.master_env,
        )

    def discard_pending_at_source(self) -> None:
        for process in self.group.processes:
            if process.name == "cqrs-sync":
                process.stop()

    def write_paced(self, rate: float, seconds: float, first_id: int) -> PacedRun:
        argv = ["bench_write", "--rate", str(rate), "--seconds", str(seconds)]
        out = self._django([*argv, "--first-id", str(first_id)], self.master_env)
        result = json.loads(out.strip().splitlines()[-1])
        return PacedRun(result["written"], result["seconds"])


def _purge_queue(queue: str) -> None:
    import amqp

    connection = amqp.Connection(**amqp_parameters(RABBITMQ_URL))
    connection.connect()
    try:
        connection.channel().queue_purge(queue)
    finally:
        connection.close()


def _spent(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float | None]:
    """CPU seconds each role used between two readings of `Pipeline.cpu_seconds`; None for a
    role with a process that ended in between (what it used went with it from /proc: the
    one-shot `cqrs_sync` of django-cqrs), rather than a figure that leaves it out."""
    return {
        role: sum(after[role].values()) - sum(before[role].values())
        if before[role].keys() <= after[role].keys()
        else None
        for role in before
    }


def _per_event_us(spent: dict[str, float | None], events: int) -> dict[str, float | None]:
    return {
        f"{role}_cpu_us_per_event": (
            round(seconds * 1e6 / events, 1) if events and seconds is not None else None
        )
        for role, seconds in spent.items()
    }


def _measurable(seconds: float, started: float) -> float:
    """The apply window, or, when every event landed in one commit (a backlog small enough for
    one batch: the smoke test's), the wall time since `started`, an upper bound."""
    return seconds if seconds > 0 else time.monotonic() - started


def measure_backlog(pipe: Pipeline, events: int, budget: Budget) -> dict[str, Any]:
    """Start the pipeline on its backlog; rate = events / (last apply - first apply).

    CPU per event: what the relay and the consumer processes used from the first apply to the
    end of the drain (start-up not counted), over the events applied in that time.
    """
    started = time.monotonic()
    pipe.start()
    if isinstance(pipe, CqrsPipeline):
        pipe.publish_backlog()
    first = pipe.wait_applied(1, timeout=budget.remaining())
    cpu_before, applied_before = pipe.cpu_seconds(), first
    applied = pipe.wait_applied(events, timeout=budget.remaining())
    cpu = _spent(cpu_before, pipe.cpu_seconds())
    count, seconds = pipe.window_rate()
    seconds = _measurable(seconds, started)
    rate = count / seconds if seconds else 0.0
    if applied < events:
        # Out of time: drop the rest of the backlog so it neither competes with the next
        # pipeline for the CPU nor queues ahead of this pipeline's lag runs.
        pipe.discard_backlog()
    return {
        "events": events,
        "applied": applied,
        "drained": applied >= events,
        "seconds": round(seconds, 2),
        "wall_seconds": round(time.monotonic() - started, 2),
        "events_per_second": round(rate, 1),
        **_per_event_us(cpu, applied - applied_before),
    }


def measure_large_backlog(
    pipe: Pipeline, events: int, first_id: int, budget: Budget
) -> dict[str, Any]:
    """The same drain on a larger backlog, through the pipeline's already running processes.

    The backlog is committed in one transaction while they idle; the rate counts only the
    applies after that commit, the CPU per event all the processes used from before it.
    """
    since = _count(pipe.target_url, "SELECT clock_timestamp()")[0]
    before = pipe.applied()
    cpu_before = pipe.cpu_seconds()  # the processes idle until the backlog's commit
    pipe.load_backlog(events, first_id)
    started = time.monotonic()
    applied = pipe.wait_applied(before + events, timeout=budget.remaining())
    cpu = _spent(cpu_before, pipe.cpu_seconds())
    count, seconds = pipe.window_rate(since)
    seconds = _measurable(seconds, started)
    if applied < before + events:
        pipe.discard_backlog()
    return {
        "events": events,
        "applied": applied - before,
        "drained": applied >= before + events,
        "seconds": round(seconds, 2),
        "wall_seconds": round(time.monotonic() - started, 2),
        "events_per_second": round(count / seconds, 1) if seconds else 0.0,
        **_per_event_us(cpu, applied - before),
    }


def measure_lag(
    pipe: Pipeline, rate: float, seconds: float, first_id: int, budget: Budget
) -> dict[str, Any]:
    """Paced writes at `rate`; lag percentiles of the events stamped after the warm-up."""
    before = pipe.applied()
    since = _count(pipe.target_url, "SELECT clock_timestamp()")[0]
    written = pipe.write_paced(rate, seconds, first_id)
    applied = pipe.wait_applied(before + written.written, timeout=min(30, budget.remaining()))
    from datetime import timedelta

    # A run shorter than a few warm-ups (the smoke test's) keeps its last three quarters.
    lags = pipe.lags_ms(since + timedelta(seconds=min(WARMUP_SECONDS, seconds / 4)))
    summary = latency_summary(lags) if lags else {"count": 0}
    return {
        "target_rate": round(rate, 1),
        "written": written.written,
        "write_rate": round(written.rate, 1),
        "applied": applied - before,
        **summary,
    }


def run(
    events: int,
    lag_seconds: float,
    budget: Budget,
    keep: bool = False,
    loads: Sequence[float] = LOAD_FRACTIONS,
    only: Sequence[str] = (),
    large: int = LARGE_BACKLOG,
) -> dict[str, Any]:
    """The whole benchmark; returns the JSON document (also written to bench/results/sync.json).

    After the lag runs, kit and limit drain a `large` backlog too (0: skip), so the ratio on a
    backlog ten times the size shows whether throughput depends on it (django-cqrs, at a few
    hundred events/s, would need over an hour).
    """
    rid = run_id()
    log_dir = work_dir(f"sync-{rid}")
    group = ProcessGroup(log_dir)
    pipes: list[Pipeline] = [
        KitPipeline(KIT, rid, group),
        LimitPipeline(LIMIT, rid, group),
        CqrsPipeline(PEER, rid, group),
    ]
    if only:  # a development run of some pipelines; `make bench` runs all three
        pipes = [pipe for pipe in pipes if pipe.prefix.split("-")[0] in only]
    result: dict[str, Any] = {
        "events": events,
        "large_events": large,
        "lag_seconds": lag_seconds,
        "logs": str(log_dir),
    }
    try:
        for pipe in pipes:
            print(f"[sync] setting up {pipe.name}", flush=True)
            pipe.setup()
            pipe.load_backlog(events)
        throughput: dict[str, Any] = {}
        for pipe in pipes:
            print(f"[sync] draining {events:,} events through {pipe.name}", flush=True)
            # django-cqrs never drains 100,000 events in time; its rate is that of what it did.
            share = budget.spend(min(DRAIN_SECONDS_MAX, max(30.0, budget.remaining() * 0.4)))
            throughput[pipe.name] = measure_backlog(pipe, events, share)
            print(f"[sync]   {throughput[pipe.name]}", flush=True)
        kit_max = throughput[KIT]["events_per_second"]
        if not kit_max:
            raise BenchError("the kit applied nothing; see the logs in " + str(log_dir))
        lag: dict[str, dict[str, Any]] = {pipe.name: {} for pipe in pipes}
        first_id = events + 1
        for fraction in loads:
            for pipe in pipes:
                if budget.remaining() < lag_seconds + 5:
                    print("[sync] time budget spent; skipping the remaining lag runs", flush=True)
                    break
                rate = kit_max * fraction
                print(f"[sync] lag of {pipe.name} at {rate:.0f} events/s", flush=True)
                lag[pipe.name][f"{int(fraction * 100)}%"] = measure_lag(
                    pipe, rate, lag_seconds, first_id, budget
                )
                first_id += int(rate * lag_seconds * 1.6) + 10
        result.update(throughput=throughput, lag=lag)
        large_pipes = [pipe for pipe in pipes if large and pipe.name in (KIT, LIMIT)]
        result["throughput_large"] = {}
        for left, pipe in zip(range(len(large_pipes), 0, -1), large_pipes, strict=True):
            print(f"[sync] draining {large:,} events through {pipe.name}", flush=True)
            share = budget.spend(budget.remaining() / left)
            result["throughput_large"][pipe.name] = measure_large_backlog(
                pipe, large, first_id, share
            )
            print(f"[sync]   {result['throughput_large'][pipe.name]}", flush=True)
    finally:
        group.stop_all()
        if not keep:
            for pipe in pipes:
                try:
                    pipe.teardown()
                except Exception as exc:  # cleanup must not hide the benchmark's own error
                    print(f"[sync] cleanup of {pipe.name}: {exc}", file=sys.stderr)
    result["summary"] = summary(result)
    result["tables"] = [t.to_dict() for t in tables(result)]
    return result


def backlog_label(events: int) -> str:
    """1000000 -> '1m', 250000 -> '250k': names the backlog in summary keys."""
    if events >= 1_000_000 and events % 1_000_000 == 0:
        return f"{events // 1_000_000}m"
    if events >= 1_000 and events % 1_000 == 0:
        return f"{events // 1_000}k"
    return str(events)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers: ratios on both backlogs, lag at half load, CPU per event."""
    kit, limit, peer = (result["throughput"].get(p, {}) for p in (KIT, LIMIT, PEER))
    half = result["lag"].get(KIT, {}).get("50%", {})
    values = {
        "kit_over_limit": ratio(kit.get("events_per_second"), limit.get("events_per_second")),
        "kit_over_peer": ratio(kit.get("events_per_second"), peer.get("events_per_second")),
        "lag_p99_ms_at_half": half.get("p99_ms"),
    }
    large = result.get("throughput_large") or {}
    if large:
        kit_large, limit_large = large.get(KIT, {}), large.get(LIMIT, {})
        values[f"kit_over_limit_{backlog_label(result['large_events'])}"] = ratio(
            kit_large.get("events_per_second"), limit_large.get("events_per_second")
        )
    # CPU per event from the larger drain when there is one (no start-up in it).
    cpu_rows = (large.get(KIT, kit), large.get(LIMIT, limit)) if large else (kit, limit)
    for name, row in zip(("kit", "limit"), cpu_rows, strict=True):
        for role in ("relay", "consumer"):
            values[f"{name}_{role}_cpu_us_per_event"] = row.get(f"{role}_cpu_us_per_event")
    return values


def tables(result: dict[str, Any]) -> list[Table]:
    """The printed (and rendered) tables of a sync result."""
    rate_tables = []
    for key, events in (("throughput", "events"), ("throughput_large", "large_events")):
        rows = result.get(key) or {}
        if not rows:
            continue
        rates = Table(
            f"Sync throughput over a backlog of {result[events]:,} events",
            [
                "pipeline",
                "events/s",
                "applied",
                "seconds",
                "kit / this",
                "relay CPU µs/event",
                "consumer CPU µs/event",
            ],
        )
        kit_rate = rows.get(KIT, {}).get("events_per_second")
        for name, row in rows.items():
            rates.add(
                name,
                row["events_per_second"],
                row["applied"],
                row["seconds"],
                ratio(kit_rate, row["events_per_second"]),
                row.get("relay_cpu_us_per_event"),
                row.get("consumer_cpu_us_per_event"),
            )
        rate_tables.append(rates)
    lags = Table(
        "Sync lag (service commit - writer commit) at a share of the kit's max throughput",
        ["pipeline", "load", "events/s", "applied", "p50 ms", "p95 ms", "p99 ms"],
    )
    for name, by_load in result["lag"].items():
        for load, row in by_load.items():
            lags.add(
                name,
                load,
                row["write_rate"],
                f"{row['applied']}/{row['written']}",
                row.get("p50_ms"),
                row.get("p95_ms"),
                row.get("p99_ms"),
            )
    return [*rate_tables, lags]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="backlog size per pipeline")
    parser.add_argument(
        "--large-events",
        type=int,
        default=LARGE_BACKLOG,
        help="the larger backlog kit and limit drain last (0: skip)",
    )
    parser.add_argument("--lag-seconds", type=float, default=8.0, help="length of each lag run")
    parser.add_argument(
        "--loads",
        default=",".join(str(f) for f in LOAD_FRACTIONS),
        help="shares of the kit's max throughput for the lag runs (default 0.25,0.5,0.75)",
    )
    parser.add_argument("--budget", type=float, default=600.0, help="seconds this may take")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep databases and queues")
    parser.add_argument(
        "--only", default="", help="pipelines to run: kit,limit,cqrs (default all three)"
    )
    args = parser.parse_args(argv)
    loads = [float(x) for x in args.loads.split(",") if x]
    only = [name for name in args.only.split(",") if name]
    result = run(
        args.events,
        args.lag_seconds,
        Budget(args.budget),
        keep=args.keep,
        loads=loads,
        only=only,
        large=args.large_events,
    )
    print_tables([Table.from_dict(t) for t in result["tables"]])
    path = write_result("sync", result, args.results_dir)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
