"""A saga in flight: one row per (type, key), written in the orchestrator's own transactions."""

from __future__ import annotations

from django.db import models


class SagaState(models.TextChoices):
    WAITING = "waiting", "Waiting for an answer"
    COMPLETED = "completed", "Completed"
    COMPENSATED = "compensated", "Compensated"


class Saga(models.Model):
    """Where one saga stands: the step it waits on, until when, and how it ended.

    Started in the same transaction as the write that begins it (an order placed pending), ended
    in the transaction that applies the participant's answer or gives up on it: a replayed
    answer finds the saga ended and changes nothing.
    """

    saga_type = models.CharField(max_length=100)
    key = models.CharField(max_length=100)
    context = models.CharField(max_length=64, help_text="The context whose answer it waits for.")
    step = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=SagaState.choices, default=SagaState.WAITING)
    outcome = models.CharField(max_length=64, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    deadline = models.DateTimeField()
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["saga_type", "key"], name="strangler_saga_type_key")
        ]
        indexes = [models.Index(fields=["state", "deadline"], name="strangler_saga_due")]

    def __str__(self) -> str:
        ended = f", {self.outcome}" if self.outcome else ""
        return f"{self.saga_type} {self.key} ({self.state}{ended})"
