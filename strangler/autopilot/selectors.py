"""Reads of the autopilot: a context's run, its last evaluation and its decisions, for
migration_status, `autopilot status` and the migration dashboard."""

from __future__ import annotations

from typing import Any

from strangler.autopilot.models import Decision, PhaseEvaluation, PlanRun

RECENT_DECISIONS = 20


def autopilot_status(context: str, *, decisions: int = RECENT_DECISIONS) -> dict[str, Any] | None:
    """The context's newest run (active or not): where it stands, the last evaluation of its
    gates with their evidence, and its recent decisions, oldest first. None without any run."""
    run = PlanRun.objects.filter(context=context).order_by("-id").first()
    if run is None:
        return None
    evaluation = PhaseEvaluation.objects.filter(run=run).order_by("-id").first()
    recent = list(Decision.objects.filter(run=run).order_by("-id")[:decisions])
    return {
        "run_id": run.pk,
        "state": run.state,
        "phase": run.phase,
        "phase_index": run.phase_index,
        "phases": [phase["name"] for phase in run.plan.get("phases", [])],
        "phase_started_at": _iso(run.phase_started_at),
        "reason": run.reason,
        "skipped_gates": run.skipped_gates,
        "lease_owner": run.lease_owner,
        "lease_expires_at": _iso(run.lease_expires_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "last_evaluation": None
        if evaluation is None
        else {
            "phase": evaluation.phase,
            "verdict": evaluation.verdict,
            "gates": evaluation.gates,
            "controller": evaluation.controller,
            "at": _iso(evaluation.at),
        },
        "decisions": [
            {
                "phase": d.phase,
                "action": d.action,
                "reason": d.reason,
                "evidence": d.evidence,
                "actor": d.actor,
                "at": _iso(d.at),
            }
            for d in reversed(recent)
        ],
    }


def run_decisions(run_id: int) -> list[Decision]:
    return list(Decision.objects.filter(run_id=run_id).order_by("id"))


def run_evaluations(run_id: int) -> list[PhaseEvaluation]:
    return list(PhaseEvaluation.objects.filter(run_id=run_id).order_by("id"))


def render_autopilot(status: dict[str, Any] | None, *, decisions: int = 5) -> list[str]:
    """Lines for migration_status and `autopilot status`."""
    if status is None:
        return ["  autopilot: no run"]
    phases = status["phases"]
    marks = " -> ".join(f"[{name}]" if name == status["phase"] else name for name in phases)
    lines = [f"  autopilot: run {status['run_id']} {status['state']} at {status['phase']}: {marks}"]
    if status["reason"]:
        lines.append(f"    reason: {status['reason']}")
    evaluation = status["last_evaluation"]
    if evaluation:
        at, phase, verdict = evaluation["at"], evaluation["phase"], evaluation["verdict"]
        lines.append(f"    last evaluation ({at}): {phase} {verdict}")
        for gate in evaluation["gates"]:
            extra = f" skipped: {gate['skipped']}" if gate.get("skipped") else ""
            failures = f" - {'; '.join(gate['failures'][:3])}" if gate["failures"] else ""
            lines.append(f"      {gate['gate']}: {gate['verdict']}{extra}{failures}")
    for decision in status["decisions"][-decisions:]:
        lines.append(
            f"    {decision['at']} {decision['phase']} {decision['action']}: {decision['reason']}"
        )
    return lines


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
