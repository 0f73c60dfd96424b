"""Retry and dead-letter bookkeeping carried in message headers (pure functions, no I/O)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ATTEMPTS_HEADER = "x-strangler-attempts"
NOT_BEFORE_HEADER = "x-strangler-not-before"
LAST_ERROR_HEADER = "x-strangler-last-error"
ERROR_HEADER = "x-strangler-error"
FAILED_AT_HEADER = "x-strangler-failed-at"
ORIGINAL_ROUTING_KEY_HEADER = "x-strangler-original-routing-key"
SUBSCRIBER_HEADER = "x-strangler-subscriber"
QUEUE_HEADER = "x-strangler-queue"
REASON_HEADER = "x-strangler-reason"

# Headers a broker or an earlier hop added that must not travel into a republished copy.
_DROPPED_ON_REPUBLISH = frozenset(
    {
        ATTEMPTS_HEADER,
        NOT_BEFORE_HEADER,
        LAST_ERROR_HEADER,
        "x-delivery-count",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
MAX_ERROR_LENGTH = 2000


class DeadLetterReason:
    """Why a message went to the dead-letter queue (the x-strangler-reason header)."""

    INVALID = "invalid"  # envelope or contract validation failed: never retried
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # the handler kept failing


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts and exponential backoff for a failing message."""

    max_attempts: int
    backoff: float
    backoff_max: float

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait before the next attempt after `failed_attempts` failures (>= 1)."""
        return min(self.backoff * 2 ** max(failed_attempts - 1, 0), self.backoff_max)

    def exhausted(self, failed_attempts: int) -> bool:
        return failed_attempts >= self.max_attempts


def attempts_of(headers: Mapping[str, Any]) -> int:
    """Failed attempts recorded on a message so far (0 for a fresh one)."""
    try:
        return max(int(headers.get(ATTEMPTS_HEADER, 0)), 0)
    except (TypeError, ValueError):
        return 0


def not_before_of(headers: Mapping[str, Any]) -> float:
    """Epoch seconds before which the message must not be attempted again (0: any time)."""
    try:
        return float(headers.get(NOT_BEFORE_HEADER, 0))
    except (TypeError, ValueError):
        return 0.0


def carried_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """The headers a republished copy keeps: CloudEvents attributes and unrelated extras."""
    return {k: v for k, v in headers.items() if k not in _DROPPED_ON_REPUBLISH}


def retry_headers(
    failed_attempts: int, error: str, policy: RetryPolicy, now: float | None = None
) -> dict[str, Any]:
    """Headers of the copy that goes back to the queue for another attempt later."""
    now = time.time() if now is None else now
    return {
        ATTEMPTS_HEADER: failed_attempts,
        NOT_BEFORE_HEADER: now + policy.delay(failed_attempts),
        LAST_ERROR_HEADER: truncate_error(error),
    }


def dead_letter_headers(
    *,
    reason: str,
    error: str,
    attempts: int,
    subscriber: str,
    queue: str,
    original_routing_key: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Headers of a dead-lettered copy: why, how often it was tried, when, from where."""
    failed_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        REASON_HEADER: reason,
        ERROR_HEADER: truncate_error(error),
        ATTEMPTS_HEADER: attempts,
        FAILED_AT_HEADER: failed_at,
        ORIGINAL_ROUTING_KEY_HEADER: original_routing_key,
        SUBSCRIBER_HEADER: subscriber,
        QUEUE_HEADER: queue,
    }


def truncate_error(error: str) -> str:
    return error if len(error) <= MAX_ERROR_LENGTH else error[: MAX_ERROR_LENGTH - 3] + "..."
