"""Settings of strangler.cutover (STRANGLER_CUTOVER), with their defaults, read in one place."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

DEFAULTS: dict[str, float] = {
    # Seconds the drain step waits for the old writer's outbox and the new writer's inbox.
    "DRAIN_TIMEOUT": 300.0,
    # Seconds between two looks at the drain.
    "POLL_INTERVAL": 0.2,
    # Seconds the fence waits for write transactions in flight on the old writer to finish.
    "FENCE_TIMEOUT": 60.0,
}


@dataclass(frozen=True)
class CutoverSettings:
    drain_timeout: float
    poll_interval: float
    fence_timeout: float


def cutover_settings() -> CutoverSettings:
    """STRANGLER_CUTOVER merged over DEFAULTS."""
    values = {**DEFAULTS, **dict(getattr(settings, "STRANGLER_CUTOVER", {}) or {})}
    return CutoverSettings(
        drain_timeout=float(values["DRAIN_TIMEOUT"]),
        poll_interval=float(values["POLL_INTERVAL"]),
        fence_timeout=float(values["FENCE_TIMEOUT"]),
    )
