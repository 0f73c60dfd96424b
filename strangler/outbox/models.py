"""The outbox table (the event log replay reads) and the per-aggregate version counter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from strangler.contracts.envelope import Envelope


class OutboxEvent(models.Model):
    """One recorded integration event; published_at is set once the broker confirmed it."""

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=200)
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
    # Set when the broker refused the row: neither it nor later events of its aggregate are
    # published before this time.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strangler_outbox_event"
        ordering = ["id"]
        # Marking a row published writes a new version of it into every index that does not
        # exclude published rows (ADR 0013): keep those few. Pending rows are found through the
        # partial indexes, pruning walks the primary key, replay goes by id, aggregate or time.
        indexes = [
            models.Index(
                fields=["partition", "id"],
                name="outbox_pending_idx",
                condition=models.Q(published_at__isnull=True),
            ),
            models.Index(fields=["aggregate_type", "subject", "id"], name="outbox_aggregate_idx"),
            # Tiny: only rows waiting for a retry; lets the claim skip their aggregates cheaply.
            models.Index(
                fields=["aggregate_type", "subject", "id"],
                name="outbox_retrying_idx",
                condition=models.Q(published_at__isnull=True, next_attempt_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.subject} v{self.aggregate_version}"

    def to_envelope(self) -> Envelope:
        """The CloudEvents envelope this row is published as (also what replay re-sends)."""
        from strangler.contracts import registry
        from strangler.contracts.envelope import Envelope

        try:
            dataschema = registry.schema(self.event_type, self.dataversion).get("$id")
        except registry.ContractError:
            dataschema = None  # a type retired from the catalog still replays, without a URI
        return Envelope(
            id=str(self.event_id),
            source=self.source,
            type=self.event_type,
            data=self.data,
            subject=self.subject,
            time=self.created_at,
            dataschema=dataschema,
            dataversion=self.dataversion,
            aggregateversion=self.aggregate_version,
            correlationid=self.correlation_id or None,
            causationid=self.causation_id or None,
            traceparent=self.traceparent or None,
        )


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
