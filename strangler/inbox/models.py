"""Inbox records (which events a subscriber applied) and per-aggregate projection versions."""

from __future__ import annotations

from django.db import models


class InboxRecord(models.Model):
    """One consumed event; the unique key makes a redelivered or replayed event a no-op.

    Written in the same transaction as the handler's writes, so "recorded" means "applied".
    """

    class Outcome(models.TextChoices):
        APPLIED = "applied"
        STALE = "stale"

    subscriber = models.CharField(max_length=200)
    source = models.CharField(max_length=200)
    event_id = models.CharField(max_length=200)
    type = models.CharField(max_length=200)
    aggregate = models.CharField(max_length=200, blank=True, default="")
    version = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.APPLIED)
    event_time = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "strangler_inbox_record"
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "source", "event_id"], name="inbox_record_event_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} <- {self.type} {self.event_id}"


class ProjectionVersion(models.Model):
    """Last applied aggregate version of one projected aggregate; `deleted` makes it a tombstone.

    The tombstone outlives the row it describes, so a late, older upsert can never resurrect a
    deleted row.
    """

    projection = models.CharField(max_length=200)  # e.g. "catalog.product"
    aggregate_id = models.CharField(max_length=200)
    version = models.BigIntegerField()
    deleted = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "strangler_inbox_projection_version"
        constraints = [
            models.UniqueConstraint(
                fields=["projection", "aggregate_id"], name="inbox_projection_version_uniq"
            )
        ]

    def __str__(self) -> str:
        state = "deleted" if self.deleted else "live"
        return f"{self.projection} {self.aggregate_id} v{self.version} ({state})"
