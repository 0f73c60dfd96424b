"""Writes of the autopilot: runs, their lease, evaluations, decisions and operator actions."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, router, transaction
from django.db.models import Q
from django.utils import timezone

from strangler.autopilot.gates import GateResult
from strangler.autopilot.models import Decision, PhaseEvaluation, PlanRun
from strangler.autopilot.plans import Plan


class AutopilotError(RuntimeError):
    """The run cannot be started, found or changed as asked; the message says what to do."""


class LeaseHeld(AutopilotError):
    """Another controller drives this run and renewed its lease recently."""


def controller_id() -> str:
    """Who this controller is, for the lease and the record: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _atomic() -> Any:
    return transaction.atomic(using=router.db_for_write(PlanRun))


def active_run(context: str) -> PlanRun | None:
    return PlanRun.objects.filter(context=context, state__in=PlanRun.ACTIVE).first()


def run_start(*, plan: Plan, actor: str) -> PlanRun:
    """A new run of the plan at its first phase; AutopilotError if one is active already."""
    now = timezone.now()
    try:
        with _atomic():
            run = PlanRun.objects.create(
                context=plan.context,
                plan=plan.to_dict(),
                phase=plan.phases[0].name,
                started_at=now,
                updated_at=now,
            )
            decision_record(
                run=run,
                action=Decision.Action.START,
                reason=f"plan of {plan.context}: {' -> '.join(p.name for p in plan.phases)}",
                evidence={"plan": plan.to_dict()},
                actor=actor,
            )
    except IntegrityError as exc:
        raise AutopilotError(
            f"a run of {plan.context} is already active; `autopilot status {plan.context}`."
        ) from exc
    return run


def lease_take(run: PlanRun, *, owner: str, seconds: float) -> bool:
    """Take or renew the run's lease; True if this owner holds it now. A lease that expired
    passes to the first controller that asks (and the take-over is recorded)."""
    now = timezone.now()
    with _atomic():
        previous = (
            PlanRun.objects.select_for_update().filter(pk=run.pk).values("lease_owner").first()
        )
        taken = (
            PlanRun.objects.filter(pk=run.pk)
            .filter(
                Q(lease_owner=owner)
                | Q(lease_owner="")
                | Q(lease_expires_at__isnull=True)
                | Q(lease_expires_at__lt=now)
            )
            .update(lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds))
        )
        if taken and previous and previous["lease_owner"] not in ("", owner):
            decision_record(
                run=run,
                action=Decision.Action.TAKE_OVER,
                reason=f"the lease of {previous['lease_owner']} expired; {owner} continues the run",
                actor=owner,
            )
    if taken:
        run.lease_owner = owner
    return bool(taken)


def lease_release(run: PlanRun, *, owner: str) -> None:
    PlanRun.objects.filter(pk=run.pk, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )


def run_save(run: PlanRun, *fields: str) -> None:
    run.updated_at = timezone.now()
    run.save(update_fields=[*fields, "updated_at"])


def evaluation_record(
    *, run: PlanRun, phase: str, verdict: str, gates: list[GateResult], controller: str
) -> PhaseEvaluation:
    return PhaseEvaluation.objects.create(
        run=run,
        phase=phase,
        verdict=verdict,
        gates=[gate.to_dict() for gate in gates],
        controller=controller,
        at=timezone.now(),
    )


def decision_record(
    *,
    run: PlanRun,
    action: str,
    reason: str = "",
    evidence: dict[str, Any] | None = None,
    actor: str = "",
    phase: str | None = None,
) -> Decision:
    return Decision.objects.create(
        run=run,
        phase=phase or run.phase,
        action=action,
        reason=reason,
        evidence=evidence or {},
        actor=actor,
        at=timezone.now(),
    )


def _operator_run(context: str) -> PlanRun:
    run = active_run(context)
    if run is None:
        raise AutopilotError(f"no active autopilot run of {context}; start one with `run`.")
    return run


def run_pause(*, context: str, actor: str, reason: str = "") -> PlanRun:
    """Stop advancing (and rolling back routing) until resumed; a rollback in progress goes on."""
    run = _operator_run(context)
    if run.state == PlanRun.State.ROLLING_BACK:
        raise AutopilotError("the run is returning writes to the monolith; it cannot pause now.")
    run.state = PlanRun.State.PAUSED
    run_save(run, "state")
    decision_record(run=run, action=Decision.Action.PAUSE, reason=reason or "paused", actor=actor)
    return run


def run_resume(*, context: str, actor: str) -> PlanRun:
    run = _operator_run(context)
    if run.state != PlanRun.State.PAUSED:
        raise AutopilotError(f"the run of {context} is {run.state}, not paused.")
    run.state = PlanRun.State.RUNNING
    run_save(run, "state")
    decision_record(run=run, action=Decision.Action.RESUME, reason="resumed", actor=actor)
    return run


def gate_skip(*, context: str, gate: str, reason: str, actor: str) -> PlanRun:
    """Count `gate` of the current phase as held from now on, with the reason on record."""
    if not reason.strip():
        raise AutopilotError("say why the gate is skipped: --reason TEXT (it is kept on record).")
    run = _operator_run(context)
    entry = {"phase": run.phase, "gate": gate, "reason": reason, "by": actor}
    entry["at"] = timezone.now().isoformat()
    run.skipped_gates = [*run.skipped_gates, entry]
    run_save(run, "skipped_gates")
    decision_record(
        run=run, action=Decision.Action.SKIP_GATE, reason=reason, evidence=entry, actor=actor
    )
    return run


def run_abort(*, context: str, actor: str, reason: str = "") -> PlanRun:
    """End the run where it stands: routes and writer are left as they are (say so)."""
    run = _operator_run(context)
    run.state = PlanRun.State.ABORTED
    run.reason = reason or "aborted by the operator"
    run.finished_at = timezone.now()
    run.lease_owner = ""
    run.lease_expires_at = None
    run_save(run, "state", "reason", "finished_at", "lease_owner", "lease_expires_at")
    decision_record(run=run, action=Decision.Action.ABORT, reason=run.reason, actor=actor)
    return run
