"""Event declarations: each event type's kind, producer and meaning, as a project declares them."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

# <context>.<aggregate>.<verb>, lower-case words: it is also the RabbitMQ routing key.
EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
DECLARATION_KEYS = frozenset({"type", "kind", "producer", "subject", "description"})


class EventKind(enum.StrEnum):
    """State transfer keeps copies in sync; a domain event tells that something happened."""

    STATE_TRANSFER = "state-transfer"
    DOMAIN = "domain"


class InvalidDeclaration(ValueError):
    """An entry of a contract package's EVENTS is not a valid event declaration."""


class UnknownCatalogEntry(LookupError):
    """No contract package declares this event type."""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type: `type` names the context, the aggregate and what happened to it.

    `producer` is the bounded context that owns the aggregate and alone writes it: the
    monolith's app of that name until cutover, the extracted service after it. `subject` says
    what the CloudEvents `subject` attribute carries (the aggregate id the ordering is per).
    `package` is the contract package that declares it.
    """

    type: str
    kind: EventKind
    producer: str
    description: str
    subject: str
    package: str = ""

    def __post_init__(self) -> None:
        if not EVENT_TYPE_PATTERN.match(self.type):
            raise InvalidDeclaration(
                f"event type {self.type!r} is not <context>.<aggregate>.<verb> "
                "(lower-case words separated by dots)"
            )

    @classmethod
    def from_declaration(cls, entry: Mapping[str, str], package: str) -> EventSpec:
        """An EventSpec from one plain-data entry of a contract package's EVENTS."""
        if not isinstance(entry, Mapping):
            raise InvalidDeclaration(f"{package}.EVENTS: {entry!r} is not a mapping")
        name = entry.get("type", "?")
        missing = sorted(DECLARATION_KEYS - {"description"} - set(entry))
        unknown = sorted(set(entry) - DECLARATION_KEYS)
        if missing or unknown:
            problems = [f"missing {', '.join(missing)}"] if missing else []
            problems += [f"unknown key(s) {', '.join(unknown)}"] if unknown else []
            raise InvalidDeclaration(
                f"{package}.EVENTS entry {name!r}: {'; '.join(problems)} "
                f"(an entry has {', '.join(sorted(DECLARATION_KEYS))})"
            )
        try:
            kind = EventKind(entry["kind"])
        except ValueError:
            raise InvalidDeclaration(
                f"{package}.EVENTS entry {name!r}: kind {entry['kind']!r} is not one of "
                f"{', '.join(k.value for k in EventKind)}"
            ) from None
        return cls(
            type=entry["type"],
            kind=kind,
            producer=entry["producer"],
            description=entry.get("description", ""),
            subject=entry["subject"],
            package=package,
        )

    @property
    def context(self) -> str:
        """`catalog` for `catalog.product.upserted`."""
        return self.type.split(".")[0]

    @property
    def aggregate(self) -> str:
        """`product` for `catalog.product.upserted`."""
        return self.type.split(".")[1]

    @property
    def aggregate_type(self) -> str:
        """`catalog.product` for `catalog.product.upserted` (the outbox's aggregate type)."""
        return self.type.rsplit(".", 1)[0]

    @property
    def verb(self) -> str:
        """`upserted` for `catalog.product.upserted`."""
        return self.type.split(".")[2]


class EventCatalog:
    """Every declared event type of a project, by type; a type may be declared only once."""

    def __init__(self, specs: Iterable[EventSpec] = ()) -> None:
        self._by_type: dict[str, EventSpec] = {}
        for spec in specs:
            earlier = self._by_type.get(spec.type)
            if earlier is not None:
                raise InvalidDeclaration(
                    f"event type {spec.type!r} is declared twice ({earlier.package or '?'} and "
                    f"{spec.package or '?'}); each type belongs to one contract package"
                )
            self._by_type[spec.type] = spec

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(sorted(self._by_type.values(), key=lambda s: s.type))

    def __len__(self) -> int:
        return len(self._by_type)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._by_type

    def spec(self, event_type: str) -> EventSpec:
        """The declaration of one event type."""
        try:
            return self._by_type[event_type]
        except KeyError:
            raise UnknownCatalogEntry(
                f"event type {event_type!r} is declared by no contract package "
                "(STRANGLER_CONTRACTS['PACKAGES'])"
            ) from None

    def types(self) -> list[str]:
        """Every declared event type, sorted."""
        return sorted(self._by_type)

    def contexts(self) -> list[str]:
        """The bounded contexts that publish events, sorted."""
        return sorted({spec.context for spec in self._by_type.values()})
