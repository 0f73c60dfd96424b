"""End to end: `autopilot run catalog` drives the catalog from an empty service to cut over, and
rolls itself back on a breach, against the real processes (PostgreSQL, RabbitMQ, gateway).

Hold times and thresholds are seconds and a handful of requests; the stack is the cutover
tests' (both sides' web server, relay and consumer) plus the gateway and a reader that sends
reads through it, and the controller as a process of its own.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.cutover_stack import (
    MONOLITH_MANAGE,
    SERVICE_MANAGE,
    CutoverStack,
    SteadyWriter,
    cutover_stack,
)
from tests.processes import PYTHON, Process, ProcessGroup, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.timeout(300)]

SERVICE = "catalog-service"
INTERVAL = 0.5
LEASE_SECONDS = 3.0
# A canary breach is answered at the next evaluation: the wrong answer reaches the service's
# store (relay + consumer), the next probe sees it (INTERVAL), the route changes and the gateway
# reloads at once (token). Generous for a loaded CI machine, far below any hold.
ROUTING_ROLLBACK_BOUND = 20.0
SAFE = ["GET", "HEAD", "OPTIONS"]


def plan(*phases: dict[str, Any], **kinds: Any) -> dict[str, Any]:
    return {
        "catalog": {
            "route": "catalog-reads",
            "probes": ["/api/catalog/products/?page_size=200"],
            "canary": {"hold": 2, "min_requests": 3, "error_rate_margin": 0.05, "p99_margin": 1.0},
            "observe": {"max_consumer_lag": 4, "max_dead_letters": 0, "max_drift": 0},
            **kinds,
            "phases": list(phases),
        }
    }


FULL_PLAN = plan(
    {"phase": "fill"},
    {"phase": "verify"},
    # Writes go on during the shadow: a read may race an event in flight.
    {"phase": "shadow", "min_requests": 10, "min_match_rate": 0.9},
    {"phase": "canary", "percent": 10},
    {"phase": "canary", "percent": 25},
    {"phase": "canary", "percent": 50},
    {"phase": "cutover"},
    {"phase": "observe", "hold": 3},
)


class Reader(threading.Thread):
    """Reads products through the gateway as many clients would (a new client id each time)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.answers: dict[int, int] = {}
        self._stop_requested = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for _ in range(20_000):  # bounded; stopped long before
                if self._stop_requested.wait(0.03):
                    return
                try:
                    response = client.get(
                        "/api/catalog/products/?page_size=20",
                        headers={"X-Client-Id": secrets.token_hex(6)},
                    )
                except httpx.HTTPError:
                    self.answers[0] = self.answers.get(0, 0) + 1
                    continue
                self.answers[response.status_code] = self.answers.get(response.status_code, 0) + 1

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(15)


class Autopilot:
    """The stack with a gateway in front, a plan file, and the controller as a process."""

    def __init__(self, stack: CutoverStack, tmp: Path, plans: dict[str, Any]) -> None:
        self.stack = stack
        var = tmp / "var"
        var.mkdir(exist_ok=True)
        self.routes = var / "routes.yaml"
        self.routes.write_text(
            yaml.safe_dump(
                {
                    "backends": {
                        "monolith": [stack.urls["monolith"]],
                        "catalog": [stack.urls[SERVICE]],
                    },
                    "routes": [
                        {
                            "name": "catalog-reads",
                            "prefix": "/api/catalog/",
                            "methods": SAFE,
                            "mode": "monolith",
                            "service": "catalog",
                            "context": "catalog",
                        },
                        {
                            "name": "catalog-writes",
                            "prefix": "/api/catalog/",
                            "mode": "monolith",
                            "service": "catalog",
                            "context": "catalog",
                        },
                    ],
                }
            )
        )
        plan_file = tmp / "autopilot.yaml"
        plan_file.write_text(yaml.safe_dump(plans))
        port = free_port()
        self.gateway_url = f"http://127.0.0.1:{port}"
        self.env = {
            **stack.env,
            "STRANGLER_VAR_DIR": str(var),
            "STRANGLER_GATEWAY_TOKEN": secrets.token_hex(16),
            "STRANGLER_GATEWAY_OPTIONS": json.dumps(
                {"RELOAD_INTERVAL": 0.3, "HEALTH_INTERVAL": 0.3, "CONNECT_TIMEOUT": 1.0}
            ),
            "STRANGLER_GATEWAY_URL": self.gateway_url,
            "STRANGLER_AUTOPILOT_PLANS": str(plan_file),
            "STRANGLER_AUTOPILOT_INTERVAL": str(INTERVAL),
            "STRANGLER_AUTOPILOT_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        stack.processes.start_http(
            "gateway",
            [
                PYTHON,
                MONOLITH_MANAGE,
                "rungateway",
                "--port",
                str(port),
                "--routes",
                str(self.routes),
            ],
            self.env,
            f"{self.gateway_url}/healthz",
        )
        self.controllers = 0

    def start_controller(self) -> Process:
        self.controllers += 1
        return self.stack.processes.start(
            f"autopilot-{self.controllers}",
            [PYTHON, MONOLITH_MANAGE, "autopilot", "run", "catalog"],
            self.env,
        )

    def manage(self, *args: str) -> Any:
        return self.stack.manage("monolith", *args, timeout=120, **self._extra())

    def _extra(self) -> dict[str, str]:
        return {k: v for k, v in self.env.items() if k not in self.stack.env}

    def run_row(self) -> dict[str, Any] | None:
        rows = self.stack.control.rows(
            "SELECT id, state, phase, phase_started_at IS NOT NULL, reason "
            "FROM strangler_autopilot_run ORDER BY id DESC LIMIT 1"
        )
        if not rows:
            return None
        run_id, state, phase, entered, reason = rows[0]
        return {"id": run_id, "state": state, "phase": phase, "entered": entered, "reason": reason}

    def decisions(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.stack.control.rows(
            "SELECT phase, action, reason, evidence::text, actor FROM strangler_autopilot_decision "
            "WHERE run_id = %s ORDER BY id",
            (run_id,),
        )
        return [
            {"phase": p, "action": a, "reason": r, "evidence": json.loads(e), "actor": actor}
            for p, a, r, e, actor in rows
        ]

    def evaluations(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.stack.control.rows(
            "SELECT phase, verdict, gates::text, controller FROM strangler_autopilot_evaluation "
            "WHERE run_id = %s ORDER BY id",
            (run_id,),
        )
        return [
            {"phase": p, "verdict": v, "gates": json.loads(gates), "controller": c}
            for p, v, gates, c in rows
        ]

    def wait_phase(self, phase: str, timeout: float = 90) -> dict[str, Any]:
        def entered() -> dict[str, Any] | None:
            row = self.run_row()
            if row and row["state"] not in ("running", "paused", "rolling_back"):
                raise AssertionError(f"the run ended before {phase}: {row}")
            return row if row and row["phase"] == phase and row["entered"] else None

        return self._wait(entered, timeout, f"phase {phase} entered")  # type: ignore[return-value]

    def wait_state(self, *states: str, timeout: float = 110) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            row = self.run_row()
            return row if row and row["state"] in states else None

        return self._wait(reached, timeout, f"the run {' or '.join(states)}")  # type: ignore[return-value]

    def _wait(self, condition: Any, timeout: float, what: str) -> Any:
        try:
            return wait_until(condition, timeout=timeout, interval=0.1, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.stack.processes.logs()[-12000:]}") from exc

    def route_mode(self) -> dict[str, Any]:
        table = yaml.safe_load(self.routes.read_text())
        entry = next(r for r in table["routes"] if r["name"] == "catalog-reads")
        return {"mode": entry["mode"], "percent": entry.get("percent")}


@pytest.fixture
def stack(
    processes: ProcessGroup, postgres_url: str, rabbitmq_url: str, tmp_path: Path
) -> Iterator[CutoverStack]:
    with cutover_stack(
        processes, postgres_url=postgres_url, rabbitmq_url=rabbitmq_url, tmp_path=tmp_path
    ) as stack:
        yield stack


def seed_legacy_rows(stack: CutoverStack, count: int) -> None:
    """Rows the monolith held before it had an outbox: the service has never seen them."""
    stack.monolith_db.rows(
        "INSERT INTO catalog_product (sku, name, description, price, currency, active, "
        "created_at, updated_at) SELECT 'OLD-' || i, 'Old ' || i, '', i + 0.5, 'EUR', true, "
        "now(), now() FROM generate_series(1, %s) AS i RETURNING id",
        (count,),
    )


@contextlib.contextmanager
def reading(autopilot: Autopilot) -> Iterator[Reader]:
    reader = Reader(autopilot.gateway_url)
    reader.start()
    try:
        yield reader
    finally:
        reader.stop()


def test_a_healthy_service_goes_from_empty_to_cut_over_with_every_phase_on_record(
    stack: CutoverStack, tmp_path: Path
) -> None:
    seed_legacy_rows(stack, 40)
    assert stack.service_db.scalar("SELECT count(*) FROM catalog_product") == 0
    autopilot = Autopilot(stack, tmp_path, FULL_PLAN)
    writer = SteadyWriter(stack, prefix="AUTO", pause=0.3)
    with reading(autopilot) as reader:
        writer.start()
        try:
            controller = autopilot.start_controller()
            row = autopilot.wait_state("completed", "rolled_back", "aborted")
        finally:
            writer.stop()
    assert row["state"] == "completed", f"{row['state']} at {row['phase']}: " + "; ".join(
        f"{d['phase']} {d['action']}: {d['reason']}" for d in autopilot.decisions(row["id"])
    )
    assert controller.wait_exit(30) == 0, controller.log()
    assert not writer.errors, writer.errors
    assert stack.writer() == SERVICE
    assert autopilot.route_mode() == {"mode": "service", "percent": None}

    decisions = autopilot.decisions(row["id"])
    phases = [p["name"] for p in json_phases(FULL_PLAN)]
    entered = [d["phase"] for d in decisions if d["action"] == "enter"]
    advanced = [d["phase"] for d in decisions if d["action"] in ("advance", "complete")]
    assert entered == advanced == phases, decisions
    assert not any(d["actor"].startswith("operator") for d in decisions)  # no operator action
    assert not [d for d in decisions if d["action"] in ("skip_gate", "pause", "resume")]
    # Every phase's passing evaluation is on record with its figures.
    evaluations = autopilot.evaluations(row["id"])
    held = {e["phase"]: e["gates"] for e in evaluations if e["verdict"] == "held"}
    assert set(held) == set(phases)
    gates = {name: {g["gate"]: g for g in found} for name, found in held.items()}
    assert gates["fill"]["filled"]["figures"]["target_counts"]["catalog.product"] >= 40
    assert gates["verify"]["drift"]["figures"]["drift"] == 0
    assert gates["shadow"]["shadow"]["figures"]["requests"] >= 10
    assert gates["shadow"]["shadow"]["figures"]["match_rate"] >= 0.9  # a count may race a write
    for name in ("canary-10", "canary-25", "canary-50"):
        assert gates[name]["error_rate"]["figures"]["service_requests"] >= 3, gates[name]
        assert gates[name]["latency"]["verdict"] == "held"
        assert gates[name]["correctness"]["figures"]["mismatched"] == 0
    assert gates["cutover"]["writer"]["figures"]["writer"] == SERVICE
    assert gates["observe"]["drift"]["figures"]["drift"] == 0
    assert reader.answers.get(200, 0) > 50 and set(reader.answers) == {200}, reader.answers

    stack.wait_stores_equal()
    status = autopilot.manage("migration_status", "catalog", "--json")
    assert status.returncode == 0, status.stderr
    (context,) = json.loads(status.stdout)
    assert context["autopilot"]["state"] == "completed"
    assert context["autopilot"]["decisions"][-1]["action"] == "complete"
    text = autopilot.manage("migration_status", "catalog")
    assert "autopilot: run" in text.stdout and "completed" in text.stdout


def json_phases(plans: dict[str, Any]) -> list[dict[str, Any]]:
    names = []
    for entry in plans["catalog"]["phases"]:
        kind = entry["phase"]
        names.append({"name": f"canary-{entry['percent']:g}" if kind == "canary" else kind})
    return names


def test_wrong_prices_at_canary_25_return_routing_to_the_monolith_naming_the_field(
    stack: CutoverStack, tmp_path: Path
) -> None:
    seed_legacy_rows(stack, 20)
    plans = plan(
        {"phase": "fill"},
        {"phase": "verify"},
        {"phase": "shadow", "min_requests": 5, "min_match_rate": 1.0},
        {"phase": "canary", "percent": 25, "hold": 90},
        {"phase": "cutover"},
    )
    autopilot = Autopilot(stack, tmp_path, plans)
    with reading(autopilot):
        autopilot.start_controller()
        row = autopilot.wait_phase("canary-25")
        assert autopilot.route_mode() == {"mode": "canary", "percent": 25}
        # A bad release of the service's consumer, then a price change: the service's store
        # (and so its answers) get the price wrong.
        consumer = next(p for p in stack.processes.processes if p.name == "service-consumer")
        consumer.stop()
        bad = stack.processes.start(
            "service-consumer-bad",
            [PYTHON, SERVICE_MANAGE, "consume_events"],
            {**stack.env, "DJANGO_SETTINGS_MODULE": "tests.e2e.wrong_price_catalog_settings"},
        )
        autopilot._wait(lambda: "consuming" in bad.log(), 60, "the bad release to consume")
        product = stack.monolith_db.scalar("SELECT min(id) FROM catalog_product")
        changed = httpx.patch(
            f"{stack.urls['monolith']}/api/catalog/products/{product}/",
            json={"price": "7.25"},
            headers=staff_headers(),
            timeout=30,
        )
        assert changed.status_code == 200, changed.text
        began = time.monotonic()
        ended = autopilot.wait_state("rolled_back", "completed", "aborted", timeout=60)
        took = time.monotonic() - began
    assert ended["state"] == "rolled_back", ended
    assert took < ROUTING_ROLLBACK_BOUND, took
    assert autopilot.route_mode() == {"mode": "monolith", "percent": None}
    assert stack.writer() == "monolith"
    decision = autopilot.decisions(row["id"])[-1]
    assert decision["action"] == "rollback_routing" and decision["phase"] == "canary-25"
    assert "price" in decision["reason"], decision
    (correctness,) = [g for g in decision["evidence"]["gates"] if g["gate"] == "correctness"]
    assert correctness["verdict"] == "breached" and "price" in correctness["figures"]["fields"]
    assert any('"7.25" -> "72.50"' in line for line in correctness["failures"]), correctness
    assert decision["evidence"]["route"]["after"] == {"mode": "monolith", "percent": None}
    assert decision["evidence"]["route"]["applied"] == "reloaded"


def staff_headers() -> dict[str, str]:
    from tests.identity import bearer, staff_token

    return bearer(staff_token())


def test_a_consumer_dying_while_observing_returns_the_writes_with_nothing_lost(
    stack: CutoverStack, tmp_path: Path
) -> None:
    seed_legacy_rows(stack, 20)
    plans = plan(
        {"phase": "fill"},
        {"phase": "verify"},
        {"phase": "cutover"},
        {"phase": "observe", "hold": 120},
    )
    autopilot = Autopilot(stack, tmp_path, plans)
    writer = SteadyWriter(stack, prefix="OBS", pause=0.1)
    writer.start()
    try:
        autopilot.start_controller()
        row = autopilot.wait_phase("observe")
        assert stack.writer() == SERVICE
        # The monolith's consumer (reverse sync into the legacy tables) dies.
        consumer = next(p for p in stack.processes.processes if p.name == "monolith-consumer")
        consumer.signal(signal.SIGKILL)
        consumer.popen.wait(10)  # type: ignore[union-attr]

        def rollback_decided() -> bool:
            return any(d["action"] == "rollback_writes" for d in autopilot.decisions(row["id"]))

        autopilot._wait(rollback_decided, 60, "the decision to return the writes")
        # Its supervisor brings it back: the rollback's drain needs the events applied.
        stack.processes.start(
            "monolith-consumer-again", [PYTHON, MONOLITH_MANAGE, "consume_events"], stack.env
        )
        ended = autopilot.wait_state("rolled_back", "completed", "aborted", timeout=150)
        writer.wait_for_writes(writer.writes + 10)
    finally:
        writer.stop()
    assert ended["state"] == "rolled_back", (ended, autopilot.decisions(row["id"]))
    assert stack.writer() == "monolith"
    assert not writer.errors, writer.errors
    decisions = autopilot.decisions(row["id"])
    why = next(d for d in decisions if d["action"] == "rollback_writes")
    assert "consumer_lag breached" in why["reason"], why
    done = decisions[-1]
    assert done["action"] == "rolled_back" and done["evidence"]["drift"] == 0, done
    assert done["evidence"]["cutover"]["target"] == "monolith"
    products, _ = stack.wait_stores_equal()
    by_id = {p[0]: p for p in products}
    for key, acked in writer.acked.items():
        assert key in by_id, f"acknowledged product {key} is missing"
        assert by_id[key][1] == acked["sku"]
    assert writer.acked_by_side[SERVICE] > 0


def test_a_controller_killed_mid_phase_is_replaced_and_the_same_run_goes_on(
    stack: CutoverStack, tmp_path: Path
) -> None:
    seed_legacy_rows(stack, 20)
    plans = plan(
        {"phase": "fill"},
        {"phase": "verify"},
        {"phase": "shadow", "min_requests": 5, "min_match_rate": 1.0, "hold": 6},
        {"phase": "canary", "percent": 50},
    )
    autopilot = Autopilot(stack, tmp_path, plans)
    with reading(autopilot):
        first = autopilot.start_controller()
        row = autopilot.wait_phase("shadow")
        # Mid-phase: the shadow phase is entered (the run row names it a step before that).
        wait_until(
            lambda: any(
                d["phase"] == "shadow" and d["action"] == "enter"
                for d in autopilot.decisions(row["id"])
            ),
            timeout=60,
            interval=0.1,
            what="the first controller entering the shadow phase",
        )
        first.kill()  # SIGKILL: no lease released, nothing cleaned up
        assert autopilot.run_row()["phase"] == "shadow"  # type: ignore[index]
        second = autopilot.start_controller()
        ended = autopilot.wait_state("completed", "rolled_back", "aborted", timeout=90)
    assert ended == {**ended, "id": row["id"], "state": "completed"}, ended
    assert second.wait_exit(30) == 0, second.log()
    decisions = autopilot.decisions(row["id"])
    actions = [d["action"] for d in decisions]
    assert actions.count("start") == 1
    takeover = next(d for d in decisions if d["action"] == "take_over")
    assert takeover["phase"] == "shadow"
    shadow_entries = [d for d in decisions if d["phase"] == "shadow" and d["action"] == "enter"]
    assert len(shadow_entries) == 1  # entered once, continued after the take-over
    controllers = {e["controller"] for e in autopilot.evaluations(row["id"])}
    assert len(controllers) == 2
    assert autopilot.route_mode() == {"mode": "canary", "percent": 50}


def test_the_autopilot_command_dry_run_pause_skip_and_abort(
    stack: CutoverStack, tmp_path: Path
) -> None:
    plans = plan({"phase": "verify"}, {"phase": "shadow", "min_requests": 1000})
    autopilot = Autopilot(stack, tmp_path, plans)
    dry = autopilot.manage("autopilot", "step", "catalog", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would start a run of catalog: verify -> shadow" in dry.stdout
    assert autopilot.run_row() is None
    for expected in ("advance", "enter"):
        step = autopilot.manage("autopilot", "step", "catalog", "--json")
        assert step.returncode == 0, step.stdout + step.stderr
        assert json.loads(step.stdout)["action"] in (expected, "wait")
    assert autopilot.run_row()["phase"] == "shadow"  # type: ignore[index]
    assert autopilot.route_mode()["mode"] == "shadow"
    assert autopilot.manage("autopilot", "pause", "catalog", "--reason", "lunch").returncode == 0
    paused = autopilot.manage("autopilot", "step", "catalog")
    assert "paused at shadow" in paused.stdout
    assert autopilot.manage("autopilot", "resume", "catalog").returncode == 0
    refused = autopilot.manage("autopilot", "skip-gate", "catalog", "shadow")
    assert refused.returncode != 0
    skipped = autopilot.manage(
        "autopilot", "skip-gate", "catalog", "shadow", "--reason", "read-only week, no traffic"
    )
    assert skipped.returncode == 0, skipped.stderr
    done = autopilot.manage("autopilot", "step", "catalog", "--json")
    assert json.loads(done.stdout)["state"] == "completed"
    status = autopilot.manage("autopilot", "status", "catalog")
    assert "skip_gate" in status.stdout and "read-only week" in status.stdout
    # A step after the end starts a new run, which an operator can abort.
    again = autopilot.manage("autopilot", "step", "catalog")
    assert again.returncode == 0 and "started at phase verify" in again.stdout
    aborted = autopilot.manage("autopilot", "abort", "catalog", "--reason", "try later")
    assert aborted.returncode == 0 and "aborted" in aborted.stdout
    assert autopilot.run_row()["state"] == "aborted"  # type: ignore[index]
