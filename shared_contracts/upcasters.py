"""The shop's upcasters: pure functions from version N of an event type's payload to N+1.

Keyed by (event type, the version the function reads). Each receives a deep copy of a valid
version-N payload and returns the version N+1 payload; the kit validates both sides. No event
type has a second version yet; docs/howto/add-an-event-type.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}
