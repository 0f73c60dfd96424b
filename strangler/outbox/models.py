"""The outbox table (the event log replay reads) and the per-aggregate version counter."""

from __future__ import annotations

from django.db import models


class OutboxEvent(models.Model):
    """One recorded integration event; published_at is set once the broker confirmed it."""

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=200, db_index=True)
    source = models.CharField(max_length=200)
    subject = models.CharField(max_length=200)
    aggregate_type = models.CharField(max_length=200)
    aggregate_version = models.BigIntegerField()
    partition = models.PositiveSmallIntegerField()
    dataversion = models.PositiveIntegerField(default=1)
    data = models.JSONField()
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    causation_id = models.CharField(max_length=100, blank=True, default="")
    traceparent = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "strangler_outbox_event"
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["partition", "id"],
                name="outbox_pending_idx",
                condition=models.Q(published_at__isnull=True),
            ),
            models.Index(fields=["aggregate_type", "subject", "id"], name="outbox_aggregate_idx"),
            models.Index(fields=["published_at"], name="outbox_published_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.subject} v{self.aggregate_version}"


class AggregateVersion(models.Model):
    """Last version handed out per aggregate; the row lock serialises writers of one aggregate."""

    aggregate_type = models.CharField(max_length=200)
    aggregate_id = models.CharField(max_length=200)
    version = models.BigIntegerField()

    class Meta:
        db_table = "strangler_outbox_aggregate_version"
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id"], name="outbox_aggregate_version_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.aggregate_type} {self.aggregate_id} v{self.version}"


class OutboxPartition(models.Model):
    """One row per ordering partition: a relay locks the rows of the partitions it publishes."""

    number = models.PositiveSmallIntegerField(primary_key=True)

    class Meta:
        db_table = "strangler_outbox_partition"

    def __str__(self) -> str:
        return f"partition {self.number}"
