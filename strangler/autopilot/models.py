"""The control database's record of autopilot runs: where each run stands, every evaluation of
its gates and every decision, each with its evidence."""

from __future__ import annotations

from django.db import models


class PlanRun(models.Model):
    """One run of a context's plan; the controller holding the lease drives it."""

    class State(models.TextChoices):
        RUNNING = "running"
        PAUSED = "paused"
        ROLLING_BACK = "rolling_back"  # a breach after the cutover: writes are being returned
        COMPLETED = "completed"
        ROLLED_BACK = "rolled_back"  # a breach returned routing (and writes) to the monolith
        ABORTED = "aborted"

    ACTIVE = (State.RUNNING, State.PAUSED, State.ROLLING_BACK)

    context = models.CharField(max_length=100)
    plan = models.JSONField()  # the plan as it was when the run started
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    phase_index = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=100)
    phase_started_at = models.DateTimeField(null=True, blank=True)  # null: not entered yet
    phase_data = models.JSONField(default=dict, blank=True)  # baselines taken on entering
    skipped_gates = models.JSONField(default=list, blank=True)  # [{phase, gate, reason, at}]
    reason = models.TextField(blank=True, default="")  # why it ended, or why it rolls back
    lease_owner = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strangler_autopilot_run"
        ordering = ["id"]
        constraints = [
            # One active run per context: two plans never drive one context.
            models.UniqueConstraint(
                fields=["context"],
                condition=models.Q(state__in=["running", "paused", "rolling_back"]),
                name="autopilot_one_active_run",
            )
        ]

    def __str__(self) -> str:
        return f"autopilot {self.context} run {self.pk}: {self.phase} ({self.state})"


class PhaseEvaluation(models.Model):
    """One look at a phase's gates: the verdict and, per gate, figures, thresholds, failures."""

    run = models.ForeignKey(PlanRun, on_delete=models.CASCADE, related_name="evaluations")
    phase = models.CharField(max_length=100)
    verdict = models.CharField(max_length=16)  # held, waiting or breached
    gates = models.JSONField(default=list)
    controller = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        db_table = "strangler_autopilot_evaluation"
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "-id"], name="autopilot_evaluation_idx")]

    def __str__(self) -> str:
        return f"{self.phase}: {self.verdict}"


class Decision(models.Model):
    """Something the controller or an operator did to a run, why, and on what evidence."""

    class Action(models.TextChoices):
        START = "start"
        ENTER = "enter"  # a phase began: its route set, its baselines taken
        ADVANCE = "advance"
        ROLLBACK_ROUTING = "rollback_routing"
        ROLLBACK_WRITES = "rollback_writes"
        ROLLED_BACK = "rolled_back"
        COMPLETE = "complete"
        PAUSE = "pause"
        RESUME = "resume"
        SKIP_GATE = "skip_gate"
        ABORT = "abort"
        TAKE_OVER = "take_over"  # a controller took the lease of one that stopped renewing it
        ERROR = "error"  # an action failed; the phase is tried again

    run = models.ForeignKey(PlanRun, on_delete=models.CASCADE, related_name="decisions")
    phase = models.CharField(max_length=100)
    action = models.CharField(max_length=32, choices=Action.choices)
    reason = models.TextField(blank=True, default="")
    evidence = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200, blank=True, default="")  # controller id or operator
    at = models.DateTimeField()

    class Meta:
        db_table = "strangler_autopilot_decision"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.phase}: {self.action}"
