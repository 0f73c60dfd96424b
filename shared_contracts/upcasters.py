"""The shop's upcasters: pure functions from version N of an event type's payload to N+1.

Keyed by (event type, the version the function reads). Each receives a deep copy of a valid
version-N payload and returns the version N+1 payload; the kit validates both sides.
docs/howto/add-an-event-type.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def same_fields_tighter_bounds(data: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2 of the types whose v2 only states the bounds the API enforces (ADR 0009).

    The fields are the same, so the payload passes unchanged; the kit validates it against v2,
    and a v1 event the API could never have produced (a negative price, a blank name, a NUL) is
    refused there, as a v2 event breaking the same bound is.
    """
    return data


UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("catalog.category.upserted", 1): same_fields_tighter_bounds,
    ("catalog.product.upserted", 1): same_fields_tighter_bounds,
    ("orders.order.placed", 1): same_fields_tighter_bounds,
    ("orders.order.upserted", 1): same_fields_tighter_bounds,
}
