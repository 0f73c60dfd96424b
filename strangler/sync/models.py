"""Checkpoints of backfill and copy runs: where a run stopped, so --resume continues from there."""

from __future__ import annotations

from django.db import models


class BackfillRun(models.Model):
    """One backfill of one aggregate; last_key is committed with each batch's events."""

    class Status(models.TextChoices):
        RUNNING = "running"  # also a run whose process died: --resume continues it
        DONE = "done"
        ABANDONED = "abandoned"  # replaced by a --restart

    context = models.CharField(max_length=100)
    aggregate = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    last_key = models.BigIntegerField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    rate_limit = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strangler_sync_backfill_run"
        ordering = ["-id"]
        indexes = [models.Index(fields=["context", "aggregate", "status"], name="backfill_run_idx")]

    def __str__(self) -> str:
        return f"backfill {self.context}.{self.aggregate} {self.status} at {self.last_key}"


class ReconcileResult(models.Model):
    """What a reconcile of an aggregate found; the newest row per aggregate is on the dashboard."""

    context = models.CharField(max_length=100)
    aggregate = models.CharField(max_length=100)
    source = models.CharField(max_length=200)
    target = models.CharField(max_length=200)
    drift = models.BigIntegerField()  # aggregates missing, extra or different on the target
    missing = models.BigIntegerField(default=0)
    extra = models.BigIntegerField(default=0)
    different = models.BigIntegerField(default=0)
    source_count = models.BigIntegerField(default=0)
    target_count = models.BigIntegerField(default=0)
    rows_hashed = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    repaired = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField()

    class Meta:
        db_table = "strangler_sync_reconcile_result"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["context", "aggregate", "-id"], name="reconcile_result_idx")
        ]

    def __str__(self) -> str:
        return f"reconcile {self.context}.{self.aggregate}: drift {self.drift}"


class CopyRun(models.Model):
    """One copy phase of one aggregate on the reading side; last_key moves with each chunk's merge.

    high_water_first / high_water are the writer's largest outbox id seen by the first and the
    latest chunk's snapshot: every event after high_water reaches this side through its queue.
    """

    class Status(models.TextChoices):
        RUNNING = "running"  # also a run whose process died: --resume continues it
        DONE = "done"
        ABANDONED = "abandoned"  # replaced by a --restart

    context = models.CharField(max_length=100)
    aggregate = models.CharField(max_length=100)
    source = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    last_key = models.BigIntegerField(null=True, blank=True)
    chunks = models.BigIntegerField(default=0)
    rows_done = models.BigIntegerField(default=0)  # rows merged (written here)
    rows_skipped = models.BigIntegerField(default=0)  # copied rows older than what was here
    rows_total = models.BigIntegerField(default=0)  # the writer's count when the run started
    high_water_first = models.BigIntegerField(null=True, blank=True)
    high_water = models.BigIntegerField(null=True, blank=True)
    rate_limit = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strangler_sync_copy_run"
        ordering = ["-id"]
        indexes = [models.Index(fields=["context", "aggregate", "status"], name="copy_run_idx")]

    def __str__(self) -> str:
        return f"copy {self.context}.{self.aggregate} {self.status} at {self.last_key}"
