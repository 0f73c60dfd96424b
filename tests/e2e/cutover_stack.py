"""Both sides of one context as real processes, for the cutover tests and bench/cutover.py.

Monolith and the context's service (the catalog unless a StackContext says otherwise) each run
their web server, outbox relay and inbox consumer, on PostgreSQL databases of their own (plus a
shared control database) and a RabbitMQ exchange and queues named for this stack only. A
SteadyWriter thread writes products like a client would: retrying on 503 (writes frozen) and
following the writer on 409.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from strangler.transport import get_transport
from strangler.transport.base import Subscription
from strangler.transport.conf import TransportSettings
from tests.identity import bearer, make_identity_keys, token_for
from tests.processes import (
    PYTHON,
    ROOT,
    Process,
    ProcessGroup,
    base_env,
    free_port,
    http_ok,
    wait_until,
)

MONOLITH_MANAGE = str(ROOT / "manage.py")
SERVICE_MANAGE = str(ROOT / "extracted" / "catalog" / "manage.py")
PRODUCT_COLUMNS = (
    "id, sku, name, description, price::text, currency, category_id, active, created_at, updated_at"
)


@dataclasses.dataclass(frozen=True)
class StackContext:
    """A context whose two sides a stack runs: its service, its tables as both sides compare
    them (SELECT columns, ordered by id) and the events its service's queue is bound to."""

    name: str
    compared: tuple[tuple[str, str], ...]  # (table, columns)
    binding_keys: tuple[str, ...]

    @property
    def service(self) -> str:
        return f"{self.name}-service"

    @property
    def manage(self) -> str:
        return str(ROOT / "extracted" / self.name / "manage.py")

    @property
    def env_prefix(self) -> str:
        return self.name.upper()


CATALOG = StackContext(
    "catalog",
    (("catalog_product", PRODUCT_COLUMNS), ("catalog_category", "id, name, slug, parent_id")),
    ("catalog.#",),
)
INVENTORY = StackContext(
    "inventory",
    (("inventory_stockitem", "id, product_id, sku, on_hand, reserved, updated_at"),),
    ("inventory.stock.upserted",),
)


class Database:
    """A PostgreSQL database of one side, read directly (the processes own the writes)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as db:
            return db.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.rows(sql, params)[0][0]

    def catalog(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """(products, categories), every compared column, ordered by id."""
        products = self.rows(f"SELECT {PRODUCT_COLUMNS} FROM catalog_product ORDER BY id")
        categories = self.rows("SELECT id, name, slug, parent_id FROM catalog_category ORDER BY id")
        return products, categories

    def snapshot(self, context: StackContext) -> tuple[list[tuple[Any, ...]], ...]:
        """The context's compared tables, every compared column, ordered by id."""
        return tuple(
            self.rows(f"SELECT {columns} FROM {table} ORDER BY id")
            for table, columns in context.compared
        )


@contextlib.contextmanager
def fresh_postgres_databases(
    admin_url: str, *roles: str, prefix: str = "e2e_cut"
) -> Iterator[list[str]]:
    """One new database per role, named `<prefix>_<role>_<random>`, dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    names = [f"{prefix}_{role}_{suffix}" for role in roles]
    base = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [f"{base}/{name}" for name in names]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            # Bounded: a DROP waits for every backend of the server to absorb a signal barrier,
            # and one stuck elsewhere on the machine must not hang this test's teardown.
            admin.execute("SET statement_timeout = '20s'")
            for name in names:
                try:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except psycopg.errors.QueryCanceled:
                    warnings.warn(f"database {name} could not be dropped in 20s", stacklevel=1)


@dataclasses.dataclass
class CutoverStack:
    processes: ProcessGroup
    env: dict[str, str]
    urls: dict[str, str]  # side name -> base URL
    dbs: dict[str, Database]  # side name -> database
    control: Database
    context: StackContext = CATALOG
    # A staff member's bearer token, issued by the monolith's POST /api/auth/token/.
    token: str = ""
    # What one side's processes add to `env` (its own internal key); `env` is the monolith's.
    side_env: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def env_of(self, side: str) -> dict[str, str]:
        """The environment of a process of `side` ("monolith" or the service's name)."""
        return {**self.env, **self.side_env.get(side, {})}

    def staff_headers(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def monolith_db(self) -> Database:
        return self.dbs["monolith"]

    @property
    def service_db(self) -> Database:
        return self.dbs[self.context.service]

    def manage(
        self, side: str, *args: str, timeout: float = 600, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run a management command of one side to its end (bounded by timeout)."""
        manage = MONOLITH_MANAGE if side == "monolith" else self.context.manage
        return subprocess.run(
            [PYTHON, manage, *args],
            cwd=ROOT,
            env={**self.env_of(side), **extra_env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cutover(
        self, to: str, *, run_on: str = "monolith", crash_at: str | None = None, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        if crash_at:
            extra_env["STRANGLER_CUTOVER_CRASH_AT"] = crash_at
        return self.manage(
            run_on, "cutover", self.context.name, "--to", to, "--timeout", "120", **extra_env
        )

    def writer(self) -> str:
        return self.control.scalar(
            "SELECT coalesce(max(writer), 'monolith') FROM strangler_ownership_context "
            "WHERE context = %s",
            (self.context.name,),
        )

    def wait_stores_equal(self, timeout: float = 120) -> tuple[list[Any], ...]:
        """Until both sides hold the same rows of the context's tables; returns them."""

        def equal() -> tuple[list[Any], ...] | None:
            left = self.monolith_db.snapshot(self.context)
            right = self.service_db.snapshot(self.context)
            if left != right:
                raise AssertionError(describe_difference(left, right))
            return left

        try:
            return wait_until(equal, timeout=timeout, interval=0.2, what="equal stores")  # type: ignore[return-value]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.processes.logs()}") from exc

    def outbox_count(self, side: str, where: str = "TRUE") -> int:
        return self.dbs[side].scalar(f"SELECT count(*) FROM strangler_outbox_event WHERE {where}")


def describe_difference(left: tuple[list[Any], ...], right: tuple[list[Any], ...]) -> str:
    """Counts and the first differing row of two snapshots (first table first)."""
    for index, (mine, theirs) in enumerate(zip(left, right, strict=True)):
        first = next(((a, b) for a, b in zip(mine, theirs, strict=False) if a != b), None)
        if first is not None or len(mine) != len(theirs):
            return (
                f"table {index}: monolith {len(mine)} rows, service {len(theirs)}; "
                f"first difference {first or 'in the row count'}"
            )
    return "no difference"


@contextlib.contextmanager
def cutover_stack(
    processes: ProcessGroup,
    *,
    postgres_url: str,
    rabbitmq_url: str,
    tmp_path: Path,
    context: StackContext = CATALOG,
    name_prefix: str = "e2e-cut",
) -> Iterator[CutoverStack]:
    """Start everything, migrated and with broker topology declared; stop it all afterwards.

    The exchange and queues are named `<name_prefix>-<random>.*`, the databases
    `<name_prefix>_<role>_<random>` (`-` as `_`): runs of several users of one server never meet.
    """
    name = f"{name_prefix}-{uuid.uuid4().hex[:10]}"
    prefix = context.env_prefix
    service_manage = context.manage
    databases = fresh_postgres_databases(
        postgres_url, "mono", context.name[:3], "ctl", prefix=name_prefix.replace("-", "_")
    )
    with databases as (mono, svc, ctl):
        monolith_port, service_port = free_port(), free_port()
        urls = {
            "monolith": f"http://127.0.0.1:{monolith_port}",
            context.service: f"http://127.0.0.1:{service_port}",
        }
        env = base_env(
            DATABASE_URL=mono,
            STRANGLER_CONTROL_DATABASE_URL=ctl,
            BROKER_URL=rabbitmq_url,
            STRANGLER_EXCHANGE=f"{name}.events",
            STRANGLER_BROKER_FOLDER=str(tmp_path / "broker"),
            MONOLITH_INBOX_QUEUE=f"{name}.monolith",
            MONOLITH_INBOX_RETRY_BACKOFF="0.05",
            MONOLITH_URL=urls["monolith"],
            LOG_LEVEL="WARNING",
            **{
                f"{prefix}_DATABASE_URL": svc,
                f"{prefix}_INBOX_QUEUE": f"{name}.{context.name}",
                f"{prefix}_INBOX_RETRY_BACKOFF": "0.05",
                f"{prefix}_SERVICE_URL": urls[context.service],
            },
        )
        if not env.get("STRANGLER_IDENTITY_SIGNING_KEY"):  # run outside pytest (bench/cutover.py)
            env.update(make_identity_keys(tmp_path / "identity"))
        side_env = internal_credentials("monolith", context.service)
        env.update(side_env["monolith"])
        steps = [
            ("migrate-monolith", MONOLITH_MANAGE, ["migrate"]),
            ("migrate-control", MONOLITH_MANAGE, ["migrate", "--database", "control"]),
            ("migrate-service", service_manage, ["migrate"]),
        ]
        # Each step's commands run at once (separate databases; idempotent declarations): the
        # stack starts in about half the time on two cores.
        run_together(
            processes,
            [
                (label, [PYTHON, manage, *args, "--no-input"], env, 180)
                for label, manage, args in steps
            ],
        )
        # A staff member who logs in with the monolith like any client; both sides verify its
        # token with the monolith's public key.
        staff = ("stack-staff", secrets.token_hex(12))
        argv = ["createsuperuser", "--no-input", "--username", staff[0], "--email", "s@shop.test"]
        run_together(
            processes,
            [
                (
                    "staff-user",
                    [PYTHON, MONOLITH_MANAGE, *argv],
                    {**env, "DJANGO_SUPERUSER_PASSWORD": staff[1]},
                    120,
                ),
                ("broker-monolith", [PYTHON, MONOLITH_MANAGE, "setup_broker"], env, 60),
                ("broker-service", [PYTHON, service_manage, "setup_broker"], env, 60),
            ],
        )
        stack = CutoverStack(
            processes=processes,
            env=env,
            urls=urls,
            dbs={"monolith": Database(mono), context.service: Database(svc)},
            control=Database(ctl),
            context=context,
            side_env=side_env,
        )
        webs = []
        for side, manage, port, side_name in (
            ("monolith", MONOLITH_MANAGE, monolith_port, "monolith"),
            ("service", service_manage, service_port, context.service),
        ):
            own = stack.env_of(side_name)
            web = processes.start(
                f"{side}-web", [PYTHON, manage, "runserver", "--noreload", f"127.0.0.1:{port}"], own
            )
            webs.append((web, f"http://127.0.0.1:{port}/readyz"))
            processes.start(f"{side}-relay", [PYTHON, manage, "outbox_relay"], own)
            processes.start(f"{side}-consumer", [PYTHON, manage, "consume_events"], own)
        for web, ready_url in webs:
            wait_until(
                lambda web=web, ready_url=ready_url: web_ready(web, ready_url),
                timeout=60,
                what=f"{web.name} at {ready_url}",
            )
        stack.token = token_for(urls["monolith"], staff)
        # Built without Django settings: bench/cutover.py runs this outside any Django project.
        transport = get_transport(
            TransportSettings(
                url=rabbitmq_url,
                exchange=f"{name}.events",
                queue_type="quorum",
                delivery_limit=5,
                confirm_timeout=10.0,
                connect_timeout=5.0,
                heartbeat=0,
                data_folder=tmp_path / "broker",
            )
        )
        try:
            yield stack
        finally:
            processes.stop_all()
            for queue, subscriber, keys in (
                (f"{name}.{context.name}", context.service, context.binding_keys),
                (f"{name}.monolith", "monolith", ("catalog.#",)),
            ):
                with contextlib.suppress(Exception):  # cleanup of a test's own queues only
                    transport.delete_subscription(Subscription(subscriber, queue, keys))
            transport.close()


def run_together(
    processes: ProcessGroup, commands: list[tuple[str, list[str], dict[str, str], float]]
) -> None:
    """Start every (name, argv, env, timeout) at once; each must exit 0 within its timeout."""
    started = [(processes.start(name, argv, env), timeout) for name, argv, env, timeout in commands]
    for process, timeout in started:
        assert process.wait_exit(timeout) == 0, process.log()


def web_ready(process: Process, ready_url: str) -> bool:
    """Whether a server answers 2xx at ready_url; AssertionError with its log if it exited."""
    if not process.alive():
        raise AssertionError(f"{process.name} exited early:\n{process.log()[-4000:]}")
    return http_ok(ready_url)


def internal_credentials(*sides: str) -> dict[str, dict[str, str]]:
    """Each side's environment for the internal endpoints: a key of its own as a caller
    (STRANGLER_INTERNAL_KEY), and the keys of the other sides, each under its caller's name
    (STRANGLER_INTERNAL_CREDENTIALS)."""
    keys = {side: secrets.token_hex(16) for side in sides}
    return {
        side: {
            "STRANGLER_INTERNAL_KEY": keys[side],
            "STRANGLER_INTERNAL_CREDENTIALS": json.dumps(
                {other: [key] for other, key in keys.items() if other != side}
            ),
        }
        for side in sides
    }


class WriteFailed(RuntimeError):
    """A write got an answer a client would not retry (neither 503 nor 409)."""


class SteadyWriter(threading.Thread):
    """Creates products and changes prices through the HTTP API, as a client of the shop.

    On 503 (writes frozen) it retries shortly; on 409 (not the writer) it sends the write to the
    other side. Every write the API acknowledged is remembered with its body, for the checks.
    """

    def __init__(
        self,
        stack: CutoverStack,
        *,
        prefix: str,
        max_writes: int = 4000,
        max_seconds: float = 180.0,
        pause: float = 0.0,
    ) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.prefix = prefix
        self.max_writes = max_writes
        self.max_seconds = max_seconds
        self.pause = pause
        self.side = stack.writer()
        self.acked: dict[int, dict[str, Any]] = {}
        self.acked_by_side: dict[str, int] = {"monolith": 0, "catalog-service": 0}
        self.frozen_answers = 0
        self.redirects = 0
        self.longest_wait = 0.0
        self.errors: list[str] = []
        self._stop_requested = threading.Event()
        self._clients = {
            # One staff token for both sides: the monolith signs it, the service verifies it.
            side: httpx.Client(base_url=url, timeout=30, headers=stack.staff_headers())
            for side, url in stack.urls.items()
        }

    @property
    def writes(self) -> int:
        return sum(self.acked_by_side.values())

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(60)
        for client in self._clients.values():
            client.close()

    def wait_for_writes(self, count: int, timeout: float = 60) -> None:
        wait_until(
            lambda: self.writes >= count or self.errors, timeout=timeout, what=f"{count} writes"
        )
        assert not self.errors, self.errors

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        index = 0
        try:
            while not self._stop_requested.is_set() and index < self.max_writes:
                if time.monotonic() > deadline:
                    break
                index += 1
                if index % 3 == 0 and self.acked:
                    key = sorted(self.acked)[index % len(self.acked)]
                    body = {"price": f"{index % 500}.{index % 100:02d}"}
                    self._send("PATCH", f"/api/catalog/products/{key}/", body)
                else:
                    body = {
                        "sku": f"{self.prefix}-{index}",
                        "name": f"Steady {index}",
                        "price": f"{index % 90 + 1}.25",
                        "currency": "EUR",
                    }
                    self._send("POST", "/api/catalog/products/", body)
                if self.pause:
                    time.sleep(self.pause)
        except Exception as exc:  # reported to the test, which fails on any
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _send(self, method: str, path: str, body: dict[str, Any]) -> None:
        started = time.monotonic()
        for _ in range(2000):  # bounded: 503s during a freeze, at most one redirect per flip
            response = self._clients[self.side].request(method, path, json=body)
            if response.status_code == 503:
                self.frozen_answers += 1
                time.sleep(0.02)  # an eager client; Retry-After says 2s
                continue
            if (
                response.status_code == 409
                and response.json()["error"]["code"] == "writes_owned_elsewhere"
            ):
                self.redirects += 1
                self.side = next(side for side in self.stack.urls if side != self.side)
                continue
            if response.status_code >= 300:
                raise WriteFailed(
                    f"{method} {path} on {self.side}: {response.status_code} {response.text}"
                )
            self.longest_wait = max(self.longest_wait, time.monotonic() - started)
            data = response.json()
            self.acked[data["id"]] = data
            self.acked_by_side[self.side] += 1
            return
        raise WriteFailed(f"{method} {path}: still refused after 2000 tries")
