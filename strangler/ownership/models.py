"""The control database: which side writes each context, and the cutover runs that moved it."""

from __future__ import annotations

from django.db import models


class ContextOwnership(models.Model):
    """The single writer of one context and whether its writes are frozen; epoch counts changes."""

    context = models.CharField(max_length=100, unique=True)
    writer = models.CharField(max_length=200)
    frozen = models.BooleanField(default=False)
    frozen_reason = models.CharField(max_length=500, blank=True, default="")
    frozen_at = models.DateTimeField(null=True, blank=True)
    epoch = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "strangler_ownership_context"

    def __str__(self) -> str:
        state = " (frozen)" if self.frozen else ""
        return f"{self.context}: {self.writer}{state} epoch {self.epoch}"


class CutoverRun(models.Model):
    """One `cutover` of a context, step by step, so a crashed run can be resumed."""

    class State(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        ABORTED = "aborted"

    context = models.CharField(max_length=100)
    source = models.CharField(max_length=200)  # the writer before the run
    target = models.CharField(max_length=200)  # the writer after it
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    step = models.CharField(max_length=32, blank=True, default="")  # last completed step
    log = models.JSONField(default=list)  # [{"step", "event", "at", "detail"}]
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strangler_ownership_cutover_run"
        ordering = ["id"]
        constraints = [
            # At most one unfinished run per context: two operators cannot interleave.
            models.UniqueConstraint(
                fields=["context"],
                condition=models.Q(state="running"),
                name="ownership_one_running_cutover",
            )
        ]

    def __str__(self) -> str:
        return f"cutover {self.context} {self.source} -> {self.target} ({self.state})"
