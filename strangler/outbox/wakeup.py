"""In-process wake-up of relay loops after a commit (PostgreSQL relays use LISTEN/NOTIFY)."""

from __future__ import annotations

import threading

_event = threading.Event()


def wake() -> None:
    _event.set()


def wait(timeout: float) -> bool:
    """Block until woken or timeout; True when woken. Clears the flag."""
    woken = _event.wait(timeout)
    _event.clear()
    return woken
