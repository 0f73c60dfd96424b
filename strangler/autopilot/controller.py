"""The autopilot's controller: one evaluation of a run's current phase per step.

A step takes the run's lease, enters the phase if it has not (its route set, its baselines
taken), reads the phase's signals, evaluates its gates, stores the evaluation, and decides:
advance when every gate holds, roll back on a breach, wait otherwise. Every action is
idempotent and the run's position lives in the control database, so a controller that dies
anywhere is replaced by the next one that asks, once the lease has expired.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router
from django.utils import timezone

from strangler.autopilot import gates as g
from strangler.autopilot import signals
from strangler.autopilot.conf import autopilot_settings
from strangler.autopilot.models import Decision, PlanRun
from strangler.autopilot.plans import WRITES_MOVED, Phase, Plan, PlanError, parse_plans
from strangler.autopilot.routing import RouteChangeError, set_route_mode
from strangler.autopilot.services import (
    AutopilotError,
    LeaseHeld,
    active_run,
    controller_id,
    decision_record,
    evaluation_record,
    lease_release,
    lease_take,
    run_save,
    run_start,
)
from strangler.cutover.runs import Cutover, CutoverError
from strangler.ownership.conf import ownership_settings
from strangler.sync.internal_api import PeerError

logger = logging.getLogger(__name__)

# What a failing signal read or action raises; the step records it and tries again next time.
RECOVERABLE = (signals.SignalUnavailable, PeerError, CutoverError, RouteChangeError, OSError)


@dataclass
class StepOutcome:
    """What one step did: the run, its phase, the verdict of its gates and the action taken."""

    run_id: int | None
    phase: str
    state: str
    verdict: str = ""
    action: str = "wait"
    gates: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.state in (
            PlanRun.State.COMPLETED,
            PlanRun.State.ROLLED_BACK,
            PlanRun.State.ABORTED,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "finished": self.finished}


def configured_plan(context: str) -> Plan:
    """The context's plan from STRANGLER_AUTOPILOT['PLANS']."""
    plans = parse_plans(autopilot_settings().raw_plans())
    if context not in plans:
        raise AutopilotError(
            f"no autopilot plan for {context}; plans exist for "
            f"{', '.join(sorted(plans)) or 'no context'}."
        )
    return plans[context]


class LeaseKeeper:
    """Renews the run's lease from a thread while a long action (a backfill, a cutover) runs."""

    def __init__(self, run: PlanRun, owner: str, seconds: float) -> None:
        self.run, self.owner, self.seconds = run, owner, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def _renew(self) -> None:
        alias = router.db_for_write(PlanRun)
        try:
            while not self._stop.wait(self.seconds / 3):
                lease_take(self.run, owner=self.owner, seconds=self.seconds)
        finally:
            connections[alias].close()

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.seconds)


class Controller:
    """Drives the autopilot run of one context; `dry_run` changes and stores nothing."""

    def __init__(
        self,
        context: str,
        *,
        owner: str | None = None,
        dry_run: bool = False,
        echo: Callable[[str], None] = print,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.context = context
        self.spec = ownership_settings().context(context)
        self.conf = autopilot_settings()
        self.owner = owner or controller_id()
        self.dry_run = dry_run
        self.echo = echo
        self.clock = clock

    # -- the loop -------------------------------------------------------------------------------

    def run_until_done(self, *, max_steps: int | None = None) -> StepOutcome:
        """Step every INTERVAL until the run finishes (or max_steps); waits out a held lease."""
        steps = 0
        outcome = StepOutcome(None, "", "")
        try:
            while max_steps is None or steps < max_steps:
                began = time.monotonic()
                try:
                    outcome = self.step()
                except LeaseHeld as exc:
                    self.echo(f"waiting: {exc}")
                else:
                    if outcome.finished:
                        return outcome
                steps += 1
                time.sleep(max(0.0, self.conf.interval - (time.monotonic() - began)))
        finally:
            self.release()
        return outcome

    def release(self) -> None:
        """Give up the lease of the context's active run (a `step` from a scheduler ends)."""
        run = active_run(self.context)
        if run is not None and not self.dry_run:
            lease_release(run, owner=self.owner)

    def step(self) -> StepOutcome:
        """One evaluation of the run's current phase, and the decision it leads to."""
        run = active_run(self.context)
        if run is None:
            plan = configured_plan(self.context)
            if self.dry_run:
                names = " -> ".join(p.name for p in plan.phases)
                self.echo(f"would start a run of {self.context}: {names}")
                return self._dry_phase(plan, plan.phases[0], None)
            run = run_start(plan=plan, actor=self.owner)
            self.echo(f"run {run.pk} of {self.context} started at phase {run.phase}")
        if not self.dry_run and not lease_take(
            run, owner=self.owner, seconds=self.conf.lease_seconds
        ):
            run.refresh_from_db()
            raise LeaseHeld(
                f"controller {run.lease_owner} drives run {run.pk} of {self.context} (lease until "
                f"{run.lease_expires_at:%H:%M:%S})"
            )
        plan = Plan.from_dict(run.plan)
        if run.state == PlanRun.State.PAUSED:
            self.echo(f"run {run.pk} is paused at {run.phase}")
            return StepOutcome(run.pk, run.phase, run.state, action="paused")
        if run.state == PlanRun.State.ROLLING_BACK:
            return self._rollback_writes(run, plan)
        phase = plan.phases[run.phase_index]
        if self.dry_run:
            return self._dry_phase(plan, phase, run)
        try:
            if run.phase_started_at is None:
                self._enter(run, plan, phase)
            results = self._evaluate(run, plan, phase)
        except RECOVERABLE as exc:
            decision_record(
                run=run, action=Decision.Action.ERROR, reason=str(exc), actor=self.owner
            )
            self.echo(f"{phase.name}: {exc} (tried again at the next step)")
            return StepOutcome(run.pk, phase.name, run.state, action="error", message=str(exc))
        if run.state != PlanRun.State.RUNNING:  # the cutover aborted while entering
            return StepOutcome(
                run.pk, phase.name, run.state, action="rolled_back", message=run.reason
            )
        results = self._apply_skips(run, phase, results)
        verdict = g.overall(results)
        evaluation_record(
            run=run, phase=phase.name, verdict=verdict, gates=results, controller=self.owner
        )
        outcome = StepOutcome(
            run.pk, phase.name, run.state, verdict, gates=[r.to_dict() for r in results]
        )
        self.echo(f"{phase.name}: {verdict}; " + "; ".join(_summary(r) for r in results))
        if verdict == g.HELD:
            self._advance(run, plan, phase, results)
            outcome.action = "advance"
        elif verdict == g.BREACHED:
            outcome.action = self._breach(run, plan, phase, results)
        outcome.state = run.state
        return outcome

    # -- phases ---------------------------------------------------------------------------------

    def _enter(self, run: PlanRun, plan: Plan, phase: Phase) -> None:
        data: dict[str, Any] = {}
        evidence: dict[str, Any] = {}
        kind = phase.kind
        if kind == "fill":
            evidence = self._fill(phase)
        elif kind == "shadow":
            evidence["route"] = self._route(plan.route, "shadow").to_dict()
            data["shadow"] = signals.shadow_totals(plan.route)
        elif kind == "canary":
            change = self._route(plan.route, "canary", percent=phase["percent"])
            evidence["route"] = change.to_dict()
            data["probes"] = {"compared": 0, "mismatched": 0}
            snapshot = signals.gateway_metrics(self.conf.gateway_url)
            data["metrics"] = _snapshot_dict(snapshot)
        elif kind == "cutover":
            evidence = self._cutover(run, plan)
            if run.state != PlanRun.State.RUNNING:
                return
        elif kind == "observe":
            count, error = signals.dead_letters(self.context, self.spec.sides[0])
            data["dead_letters"] = count or 0
            data["behind"] = {}
            evidence["dead_letters_at_start"] = {"count": count, "error": error}
        run.phase_started_at = timezone.now()
        run.phase_data = data
        run_save(run, "phase_started_at", "phase_data")
        decision_record(
            run=run,
            action=Decision.Action.ENTER,
            reason=f"phase {phase.name} began",
            evidence={"phase": phase.to_dict(), **evidence, "baseline": _brief(data)},
            actor=self.owner,
        )
        self.echo(f"{phase.name}: entered")

    def _evaluate(self, run: PlanRun, plan: Plan, phase: Phase) -> list[g.GateResult]:
        kind = phase.kind
        elapsed = (timezone.now() - run.phase_started_at).total_seconds()  # type: ignore[operator]
        if kind == "fill":
            return self._evaluate_fill()
        if kind == "verify":
            return [g.drift_gate(signals.reconcile(self.context), max_drift=phase["max_drift"])]
        if kind == "shadow":
            base = run.phase_data["shadow"]
            now = signals.shadow_totals(plan.route)
            results = [
                g.shadow_gate(
                    requests=now["requests"] - base["requests"],
                    matches=now["matches"] - base["matches"],
                    min_requests=phase["min_requests"],
                    min_match_rate=phase["min_match_rate"],
                    differences=signals.shadow_mismatches(
                        plan.route, after_id=base["last_mismatch_id"]
                    ),
                )
            ]
            if phase["hold"]:
                results.append(g.hold_gate(elapsed, phase["hold"]))
            return results
        if kind == "canary":
            return self._evaluate_canary(run, plan, phase, elapsed)
        if kind == "cutover":
            writer = signals.writer(self.context)
            held = writer == self.spec.service
            return [
                g.GateResult(
                    "writer",
                    g.HELD if held else g.WAITING,
                    {"writer": writer},
                    {"writer": self.spec.service},
                    [] if held else [f"{writer} still writes {self.context}"],
                )
            ]
        if kind == "observe":
            return self._evaluate_observe(run, phase, elapsed)
        raise PlanError(f"unknown phase kind {kind!r}")

    def _evaluate_fill(self) -> list[g.GateResult]:
        states = signals.side_states(self.context)
        monolith, service = self.spec.sides
        behind = signals.versions_unapplied(self.context)
        return [
            g.fill_gate(
                source_counts=states[monolith].counts,
                target_counts=states[service].counts,
                writer_pending=states[signals.writer(self.context)].outbox_pending,
                reader_behind=sum(len(found) for found in behind.values()),
            )
        ]

    def _evaluate_canary(
        self, run: PlanRun, plan: Plan, phase: Phase, elapsed: float
    ) -> list[g.GateResult]:
        # The phase's own probes, counted since it began. Not the shadow store's totals: a
        # canary route mirrors nothing, but the shadow phase's last comparisons may still be
        # written after this phase began, and they race writes as shadow comparisons may.
        paths = plan.probes or (_route_prefix(plan.route),)
        probed = signals.probe_answers(plan.route, paths, timeout=self.conf.probe_timeout)
        counted = run.phase_data.get("probes", {"compared": 0, "mismatched": 0})
        counted = {
            "compared": counted["compared"] + probed.compared,
            "mismatched": counted["mismatched"] + probed.mismatched,
        }
        run.phase_data = {**run.phase_data, "probes": counted}
        run_save(run, "phase_data")
        current = signals.gateway_metrics(self.conf.gateway_url)
        baseline = _snapshot_from_dict(run.phase_data["metrics"])
        service_name = _route_service(plan.route)
        windows = {
            target: g.route_window(current, baseline, plan.route, target)
            for target in ("monolith", service_name, "fallback")
        }
        results = [
            g.correctness_gate(
                compared=counted["compared"],
                mismatched=counted["mismatched"],
                max_mismatches=phase["max_mismatches"],
                differences=probed.differences,
            ),
            g.error_rate_gate(
                service=windows[service_name],
                monolith=windows["monolith"],
                fallbacks=windows["fallback"],
                margin=phase["error_rate_margin"],
                min_requests=phase["min_requests"],
            ),
            g.latency_gate(
                service=windows[service_name],
                monolith=windows["monolith"],
                margin=phase["p99_margin"],
                min_requests=phase["min_requests"],
            ),
            g.hold_gate(elapsed, phase["hold"]),
        ]
        results[0].figures["probed_now"] = probed.compared
        return results

    def _evaluate_observe(self, run: PlanRun, phase: Phase, elapsed: float) -> list[g.GateResult]:
        now = self.clock()
        behind = signals.versions_unapplied(self.context)
        first_seen = g.track_behind(run.phase_data.get("behind", {}), behind, now)
        reader = next(s for s in self.spec.sides if s != signals.writer(self.context))
        count, error = signals.dead_letters(self.context, reader)
        results = [
            g.consumer_lag_gate(first_seen=first_seen, now=now, max_lag=phase["max_consumer_lag"]),
            g.dead_letters_gate(
                count=count,
                baseline=run.phase_data.get("dead_letters", 0),
                max_dead_letters=phase["max_dead_letters"],
                error=error,
            ),
            g.hold_gate(elapsed, phase["hold"]),
        ]
        data = {**run.phase_data, "behind": first_seen}
        skipped_hold = any(
            s["phase"] == phase.name and s["gate"] == "hold" for s in run.skipped_gates
        )
        if results[-1].held or skipped_hold:  # drift once the hold is over: a reconcile a look
            reports = signals.reconcile(self.context)
            ids = g.drift_ids(reports)
            previous = data.get("drift_ids")
            persistent = sorted(ids & set(previous)) if previous is not None else None
            data["drift_ids"] = sorted(ids)
            results.append(
                g.drift_gate(
                    reports, max_drift=phase["max_drift"], persistent=persistent, breach=True
                )
                if persistent is not None or not ids
                else g.drift_gate(reports, max_drift=phase["max_drift"], persistent=[])
            )
        run.phase_data = data
        run_save(run, "phase_data")
        return results

    def _apply_skips(
        self, run: PlanRun, phase: Phase, results: list[g.GateResult]
    ) -> list[g.GateResult]:
        reasons = {s["gate"]: s["reason"] for s in run.skipped_gates if s["phase"] == phase.name}
        return [g.skip(r, reasons[r.gate]) if r.gate in reasons else r for r in results]

    # -- actions --------------------------------------------------------------------------------

    def _route(self, route: str, mode: str, *, percent: float | None = None) -> Any:
        change = set_route_mode(
            route, mode, percent=percent, gateway_url=self.conf.gateway_url, dry_run=self.dry_run
        )
        if change.changed:
            self.echo(f"route {route}: {change.before} -> {change.after} ({change.applied})")
        return change

    def _fill(self, phase: Phase) -> dict[str, Any]:
        """Snapshot every row on the writer (resuming an unfinished backfill), once."""
        from strangler.cutover.selectors import context_specs
        from strangler.ownership.conf import this_side
        from strangler.sync.backfill import run_backfill, start_run, unfinished_run

        if self._evaluate_fill()[0].held:
            return {"backfill": "not needed: the service holds every row and version"}
        if signals.writer(self.context) != this_side():
            raise AutopilotError(
                f"the fill runs on the writer of {self.context}; run the controller there."
            )
        done = {}
        with LeaseKeeper(self._run_for_lease(), self.owner, self.conf.lease_seconds):
            for spec in context_specs(self.context):
                backfill, resumed = start_run(
                    spec, resume=unfinished_run(spec) is not None, restart=False, rate=None
                )
                result = run_backfill(
                    spec, backfill, batch_size=int(phase["batch_size"]), resumed=resumed
                )
                done[spec.label] = {"rows": result.rows, "run": result.run_id, "resumed": resumed}
        return {"backfill": done}

    def _run_for_lease(self) -> PlanRun:
        run = active_run(self.context)
        assert run is not None
        return run

    def _cutover(self, run: PlanRun, plan: Plan) -> dict[str, Any]:
        """Reads to the service, then its writes, through the cutover's steps."""
        evidence: dict[str, Any] = {"route": self._route(plan.route, "service").to_dict()}
        cutover = Cutover(self.context, "service", echo=lambda line: self.echo(f"  {line}"))
        try:
            with LeaseKeeper(run, self.owner, self.conf.lease_seconds):
                result = cutover.execute()
        except CutoverError as exc:
            from strangler.cutover.runs import CutoverAborted

            if not isinstance(exc, CutoverAborted):
                raise  # after the flip: the next step resumes the same cutover run
            self._end_rolled_back(
                run,
                plan,
                f"the cutover aborted before the flip: {exc}",
                {"cutover_error": str(exc)},
                action=Decision.Action.ROLLBACK_ROUTING,
            )
            return evidence
        finally:
            cutover.close()
        evidence["cutover"] = result.as_dict()
        return evidence

    def _advance(self, run: PlanRun, plan: Plan, phase: Phase, results: list[g.GateResult]) -> None:
        evidence = {"gates": [r.to_dict() for r in results]}
        if run.phase_index + 1 >= len(plan.phases):
            run.state = PlanRun.State.COMPLETED
            run.finished_at = timezone.now()
            run.reason = f"every phase's gates held; {self._writer_text()}"
            run.lease_owner, run.lease_expires_at = "", None
            run_save(run, "state", "finished_at", "reason", "lease_owner", "lease_expires_at")
            decision_record(
                run=run,
                action=Decision.Action.COMPLETE,
                reason=run.reason,
                evidence=evidence,
                actor=self.owner,
            )
            self.echo(f"run {run.pk} of {self.context} completed: {run.reason}")
            return
        following = plan.phases[run.phase_index + 1]
        decision_record(
            run=run,
            action=Decision.Action.ADVANCE,
            reason=f"every gate of {phase.name} held; next {following.name}",
            evidence=evidence,
            actor=self.owner,
        )
        run.phase_index += 1
        run.phase = following.name
        run.phase_started_at = None
        run.phase_data = {}
        run_save(run, "phase_index", "phase", "phase_started_at", "phase_data")
        self.echo(f"{phase.name}: every gate held -> {following.name}")

    def _breach(self, run: PlanRun, plan: Plan, phase: Phase, results: list[g.GateResult]) -> str:
        failed = [r for r in results if r.verdict == g.BREACHED]
        reason = f"{phase.name}: " + "; ".join(
            f"{r.gate} breached ({'; '.join(r.failures[:3])})" for r in failed
        )
        evidence = {"gates": [r.to_dict() for r in results], "breached": [r.gate for r in failed]}
        if phase.kind in WRITES_MOVED:
            run.state = PlanRun.State.ROLLING_BACK
            run.reason = reason
            run_save(run, "state", "reason")
            decision_record(
                run=run,
                action=Decision.Action.ROLLBACK_WRITES,
                reason=reason,
                evidence=evidence,
                actor=self.owner,
            )
            self.echo(f"BREACH {reason}: returning writes to the monolith")
            self._rollback_writes(run, plan)
            return "rollback_writes"
        self._end_rolled_back(run, plan, reason, evidence, action=Decision.Action.ROLLBACK_ROUTING)
        return "rollback_routing"

    def _end_rolled_back(
        self, run: PlanRun, plan: Plan, reason: str, evidence: dict[str, Any], *, action: str
    ) -> None:
        detected = time.monotonic()
        change = self._route(plan.route, "monolith")
        evidence = {
            **evidence,
            "route": change.to_dict(),
            "routed_in_seconds": round(time.monotonic() - detected, 3),
        }
        run.state = PlanRun.State.ROLLED_BACK
        run.reason = reason
        run.finished_at = timezone.now()
        run.lease_owner, run.lease_expires_at = "", None
        run_save(run, "state", "reason", "finished_at", "lease_owner", "lease_expires_at")
        decision_record(run=run, action=action, reason=reason, evidence=evidence, actor=self.owner)
        self.echo(f"BREACH {reason}: routing returned to the monolith")

    def _rollback_writes(self, run: PlanRun, plan: Plan) -> StepOutcome:
        """Writes back to the monolith through the cutover, then reads; tried again until done."""
        started = time.monotonic()
        cutover = Cutover(
            self.context,
            "monolith",
            drain_timeout=self.conf.rollback_timeout,
            echo=lambda line: self.echo(f"  {line}"),
        )
        try:
            with LeaseKeeper(run, self.owner, self.conf.lease_seconds):
                result = cutover.execute()
            change = self._route(plan.route, "monolith")
            reports = signals.reconcile(self.context)
        except RECOVERABLE as exc:
            decision_record(
                run=run,
                action=Decision.Action.ERROR,
                reason=f"returning writes failed, tried again at the next step: {exc}",
                actor=self.owner,
            )
            self.echo(f"rollback of writes not done yet: {exc}")
            return StepOutcome(
                run.pk, run.phase, run.state, action="rollback_writes", message=str(exc)
            )
        finally:
            cutover.close()
        drift = sum(report["drift"] for report in reports)
        run.state = PlanRun.State.ROLLED_BACK
        run.finished_at = timezone.now()
        run.lease_owner, run.lease_expires_at = "", None
        run_save(run, "state", "finished_at", "lease_owner", "lease_expires_at")
        decision_record(
            run=run,
            action=Decision.Action.ROLLED_BACK,
            reason=f"writes and reads back on the monolith ({run.reason}); drift after: {drift}",
            evidence={
                "cutover": result.as_dict(),
                "route": change.to_dict(),
                "reconcile": reports,
                "drift": drift,
                "seconds": round(time.monotonic() - started, 3),
            },
            actor=self.owner,
        )
        self.echo(f"rolled back: the monolith writes {self.context} again; drift {drift}")
        return StepOutcome(run.pk, run.phase, run.state, action="rolled_back", message=run.reason)

    def _writer_text(self) -> str:
        return f"{signals.writer(self.context)} writes {self.context}"

    # -- dry run --------------------------------------------------------------------------------

    def _dry_phase(self, plan: Plan, phase: Phase, run: PlanRun | None) -> StepOutcome:
        """Say what the step would do in this phase; read-only signals only, nothing stored."""
        entered = run is not None and run.phase_started_at is not None
        lines = []
        if not entered:
            entry = _ENTRY_TEXT[phase.kind].format(route=plan.route, **phase.params)
            lines.append(f"would enter {phase.name}: {entry}")
        lines.append(f"then evaluate its gates: {_GATES_TEXT[phase.kind].format(**phase.params)}")
        following = plan.index(phase.name) + 1
        nxt = plan.phases[following].name if following < len(plan.phases) else "complete"
        lines.append(f"when they hold: advance to {nxt}; on a breach: {_BREACH_TEXT[phase.kind]}")
        for line in lines:
            self.echo(line)
        return StepOutcome(
            run.pk if run else None,
            phase.name,
            run.state if run else "not started",
            action="dry-run",
            message="\n".join(lines),
        )


_ENTRY_TEXT = {
    "fill": "backfill every aggregate on the writer (resuming an unfinished backfill)",
    "verify": "nothing to change",
    "shadow": "set route {route} to shadow; note the shadow store's totals",
    "canary": "set route {route} to canary {percent}%; note the gateway's metrics",
    "cutover": "set route {route} to service, then cut the writes over (cutover --to service)",
    "observe": "note the reader's dead letters",
}
_GATES_TEXT = {
    "fill": "row counts equal, outbox empty, every aggregate applied",
    "verify": "reconcile drift <= {max_drift}",
    "shadow": ">= {min_requests} compared, match rate >= {min_match_rate}",
    "canary": "probes answer alike (<= {max_mismatches} differ), error rate <= monolith + "
    "{error_rate_margin}, p99 <= monolith + {p99_margin}s, held {hold}s",
    "cutover": "the service writes",
    "observe": "consumer lag <= {max_consumer_lag}s, new dead letters <= {max_dead_letters}, "
    "drift <= {max_drift} after a hold of {hold}s",
}
_BREACH_TEXT = {
    "fill": "wait (a fill never breaches)",
    "verify": "wait (repair the drift)",
    "shadow": "wait (fix the differences)",
    "canary": "return routing to the monolith and end the run",
    "cutover": "an aborted cutover returns routing to the monolith",
    "observe": "return writes (cutover --to monolith), then reads, to the monolith",
}


def _summary(result: g.GateResult) -> str:
    text = f"{result.gate} {result.verdict}"
    if result.skipped:
        text += f" (skipped: {result.skipped})"
    elif result.failures:
        text += f" ({result.failures[0]})"
    return text


def _snapshot_dict(snapshot: g.GatewaySnapshot) -> dict[str, Any]:
    return {
        route: {target: window.to_dict() for target, window in targets.items()}
        for route, targets in snapshot.items()
    }


def _snapshot_from_dict(data: dict[str, Any]) -> g.GatewaySnapshot:
    return {
        route: {target: g.TargetWindow.from_dict(window) for target, window in targets.items()}
        for route, targets in data.items()
    }


def _brief(data: dict[str, Any]) -> dict[str, Any]:
    """A phase's baselines for the record, without the bulky histograms."""
    return {key: value for key, value in data.items() if key != "metrics"}


def _gateway_route(name: str) -> Any:
    from strangler.gateway.conf import gateway_settings
    from strangler.gateway.sources import routing_source

    table = routing_source(gateway_settings().routes).load()
    route = next((r for r in table.routes if r.name == name), None)
    if route is None:
        raise RouteChangeError(f"the gateway's routing table has no route named {name!r}")
    return route


def _route_service(name: str) -> str:
    route = _gateway_route(name)
    if not route.service:
        raise RouteChangeError(f"route {name!r} names no service backend")
    return route.service


def _route_prefix(name: str) -> str:
    return _gateway_route(name).prefix
