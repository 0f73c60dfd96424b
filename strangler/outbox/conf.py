"""Settings of strangler.outbox, with their defaults, read in one place."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

DEFAULTS = {
    # Name of this process's service: the CloudEvents `source` of every event it records.
    # No default: each side names itself (STRANGLER_SERVICE_NAME), checked by outbox.E004.
    "SERVICE_NAME": "",
    # Number of ordering partitions; an aggregate's events always fall in the same one, and a
    # relay holds a partition while it publishes, so concurrent relays never reorder an aggregate.
    "PARTITIONS": 16,
    # Rows claimed and published per relay batch (publish all, then wait for all confirms).
    "BATCH_SIZE": 500,
    # Partitions one relay holds per batch; with several relays each takes different ones.
    "CLAIM_PARTITIONS": 4,
    # How often the relay sweeps when nothing woke it, in seconds.
    "SWEEP_INTERVAL": 1.0,
    # Published rows are kept this many days as the event log replay reads.
    "RETENTION_DAYS": 30,
    # PostgreSQL LISTEN/NOTIFY channel that wakes the relay right after a commit.
    "NOTIFY_CHANNEL": "strangler_outbox",
    # A row the broker refused (unroutable, nacked, unconfirmed) waits RETRY_BASE * 2**attempts
    # seconds, at most RETRY_MAX, before it is tried again; later events of its aggregate wait too.
    "RETRY_BASE": 1.0,
    "RETRY_MAX": 60.0,
    # When the broker is unreachable the relay retries after 0.5s, doubling up to this (seconds).
    "RECONNECT_MAX": 10.0,
    # Report writes that change a STRANGLER_SYNC aggregate's table without recording its event
    # (QuerySet.update, bulk_create, raw SQL, admin actions...): "off" (nothing installed), "log"
    # (count strangler_outbox_bypassed_writes and log a warning naming table, aggregate type and
    # caller) or "refuse" (also roll the transaction back with OutboxBypassError).
    "BYPASS_GUARD": "off",
}


@dataclass(frozen=True)
class OutboxSettings:
    service_name: str
    partitions: int
    batch_size: int
    sweep_interval: float
    retention_days: int
    notify_channel: str
    claim_partitions: int = 4
    retry_base: float = 1.0
    retry_max: float = 60.0
    reconnect_max: float = 10.0
    bypass_guard: str = "off"


def outbox_settings() -> OutboxSettings:
    """STRANGLER_OUTBOX merged over DEFAULTS; STRANGLER_SERVICE_NAME names the service."""
    configured = dict(getattr(settings, "STRANGLER_OUTBOX", {}))
    values = {**DEFAULTS, **configured}
    values["SERVICE_NAME"] = getattr(settings, "STRANGLER_SERVICE_NAME", values["SERVICE_NAME"])
    return OutboxSettings(
        service_name=values["SERVICE_NAME"],
        partitions=int(values["PARTITIONS"]),
        batch_size=int(values["BATCH_SIZE"]),
        sweep_interval=float(values["SWEEP_INTERVAL"]),
        retention_days=int(values["RETENTION_DAYS"]),
        notify_channel=str(values["NOTIFY_CHANNEL"]),
        claim_partitions=int(values["CLAIM_PARTITIONS"]),
        retry_base=float(values["RETRY_BASE"]),
        retry_max=float(values["RETRY_MAX"]),
        reconnect_max=float(values["RECONNECT_MAX"]),
        bypass_guard=str(values["BYPASS_GUARD"]),
    )
