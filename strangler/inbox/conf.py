"""Settings of strangler.inbox (STRANGLER_INBOX), with their defaults, read in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from strangler.transport.base import Subscription

DEFAULTS: dict[str, Any] = {
    # Name of the consuming service in inbox records; empty means settings.STRANGLER_SERVICE_NAME.
    "SUBSCRIBER": "",
    # The subscriber's durable queue; empty means "<subscriber>.events".
    "QUEUE": "",
    # Topic patterns bound to the queue, e.g. ["catalog.#"].
    "BINDING_KEYS": [],
    # Dotted path to the dict {event type: handler function}: the one place handlers are listed.
    "HANDLERS": "",
    # Messages applied in one database transaction (and acked together after its commit).
    "BATCH_SIZE": 500,  # a trickle's batch is what has arrived: no waiting (ADR 0007)
    # Unacknowledged messages the broker may push ahead of the consumer (two batches).
    "PREFETCH": 1000,
    # Seconds a fetch waits for the first message before the loop checks for shutdown.
    "FETCH_TIMEOUT": 1.0,
    # Attempts of a failing message (the first one included) before it is dead-lettered.
    "MAX_ATTEMPTS": 5,
    # Backoff before retry n is RETRY_BACKOFF * 2**(n-1) seconds, capped at RETRY_BACKOFF_MAX.
    "RETRY_BACKOFF": 0.5,
    "RETRY_BACKOFF_MAX": 60.0,
    # Backoff while the database is unreachable (doubles up to 30 s); messages stay unacked.
    "DATABASE_RETRY_BACKOFF": 0.5,
    # Seconds between refreshes of the dead-letter depth gauge.
    "DEAD_LETTER_DEPTH_INTERVAL": 10.0,
    # A message body over this many bytes is dead-lettered (too_large) before it is parsed.
    "MAX_MESSAGE_BYTES": 1024 * 1024,
}

POSITIVE_INTS = ("BATCH_SIZE", "PREFETCH", "MAX_ATTEMPTS", "MAX_MESSAGE_BYTES")
POSITIVE_NUMBERS = (
    "FETCH_TIMEOUT",
    "RETRY_BACKOFF",
    "RETRY_BACKOFF_MAX",
    "DATABASE_RETRY_BACKOFF",
    "DEAD_LETTER_DEPTH_INTERVAL",
)

Handler = Callable[..., None]


class InboxConfigurationError(RuntimeError):
    """STRANGLER_INBOX cannot be used as configured; the message says what to change."""


@dataclass(frozen=True)
class InboxSettings:
    subscriber: str
    queue: str
    binding_keys: tuple[str, ...]
    handlers_path: str
    batch_size: int
    prefetch: int
    fetch_timeout: float
    max_attempts: int
    retry_backoff: float
    retry_backoff_max: float
    database_retry_backoff: float
    dead_letter_depth_interval: float
    max_message_bytes: int = DEFAULTS["MAX_MESSAGE_BYTES"]

    @property
    def subscription(self) -> Subscription:
        return Subscription(self.subscriber, self.queue, self.binding_keys)

    def handlers(self) -> Mapping[str, Handler]:
        """The registered handlers {event type: function}, imported from HANDLERS."""
        if not self.handlers_path:
            raise InboxConfigurationError(
                "STRANGLER_INBOX['HANDLERS'] is empty; set it to the dotted path of the dict that "
                "maps event types to handler functions, e.g. 'myservice.handlers.HANDLERS'."
            )
        try:
            handlers = import_string(self.handlers_path)
        except ImportError as exc:
            raise InboxConfigurationError(
                f"STRANGLER_INBOX['HANDLERS']={self.handlers_path!r} cannot be imported: {exc}"
            ) from exc
        if not isinstance(handlers, Mapping) or not all(callable(h) for h in handlers.values()):
            raise InboxConfigurationError(
                f"{self.handlers_path} must be a dict of event type -> handler function."
            )
        return handlers


def inbox_settings(**overrides: Any) -> InboxSettings:
    """STRANGLER_INBOX merged over DEFAULTS, then keyword overrides (e.g. batch_size=1)."""
    values = {**DEFAULTS, **dict(getattr(settings, "STRANGLER_INBOX", {}) or {})}
    subscriber = str(values["SUBSCRIBER"] or getattr(settings, "STRANGLER_SERVICE_NAME", ""))
    result = InboxSettings(
        subscriber=subscriber,
        queue=str(values["QUEUE"] or f"{subscriber}.events"),
        binding_keys=tuple(str(key) for key in values["BINDING_KEYS"]),
        handlers_path=str(values["HANDLERS"]),
        batch_size=int(values["BATCH_SIZE"]),
        prefetch=int(values["PREFETCH"]),
        fetch_timeout=float(values["FETCH_TIMEOUT"]),
        max_attempts=int(values["MAX_ATTEMPTS"]),
        retry_backoff=float(values["RETRY_BACKOFF"]),
        retry_backoff_max=float(values["RETRY_BACKOFF_MAX"]),
        database_retry_backoff=float(values["DATABASE_RETRY_BACKOFF"]),
        dead_letter_depth_interval=float(values["DEAD_LETTER_DEPTH_INTERVAL"]),
        max_message_bytes=int(values["MAX_MESSAGE_BYTES"]),
    )
    return replace(result, **overrides) if overrides else result
