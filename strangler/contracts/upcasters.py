"""Upcasters: pure functions that turn version N of an event type's payload into version N+1."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UpcasterConflict(ValueError):
    """Two upcasters were registered for the same event type and version."""


@dataclass(frozen=True)
class UpcasterRegistry:
    """The upcasters of a schema registry, keyed by (event type, version they read).

    Each function receives a deep copy of a valid version-N payload and returns the version N+1
    payload; the registry validates both sides, so an upcaster holds no validation of its own.
    """

    functions: Mapping[tuple[str, int], Upcaster] = field(default_factory=dict)

    @classmethod
    def of(cls, *entries: tuple[str, int, Upcaster]) -> UpcasterRegistry:
        """Build from (event_type, from_version, function) triples; duplicates are an error."""
        functions: dict[tuple[str, int], Upcaster] = {}
        for event_type, from_version, function in entries:
            key = (event_type, from_version)
            if key in functions:
                raise UpcasterConflict(
                    f"two upcasters for {event_type} v{from_version} -> v{from_version + 1}"
                )
            functions[key] = function
        return cls(functions)

    @classmethod
    def merged(cls, *mappings: Mapping[tuple[str, int], Upcaster]) -> UpcasterRegistry:
        """Build from the UPCASTERS mappings of contract packages; duplicates are an error."""
        return cls.of(
            *(
                (event_type, from_version, function)
                for mapping in mappings
                for (event_type, from_version), function in mapping.items()
            )
        )

    def get(self, event_type: str, from_version: int) -> Upcaster | None:
        """The function from `from_version` to `from_version + 1`, or None."""
        return self.functions.get((event_type, from_version))

    def __contains__(self, key: object) -> bool:
        return key in self.functions

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(sorted(self.functions))
