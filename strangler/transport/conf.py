"""Settings of strangler.transport (STRANGLER_TRANSPORT), with their defaults, read in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from strangler.transport.base import Subscription

DEFAULTS: dict[str, object] = {
    # Broker URL; empty means settings.BROKER_URL (itself from the BROKER_URL variable).
    # amqp://user:pass@host:5672/vhost for RabbitMQ, filesystem:// for the embedded transport.
    "URL": "",
    # Prefix of the durable topic exchanges: each side publishes its events to `<EXCHANGE>.<side>`
    # (side = STRANGLER_SERVICE_NAME), routing key = event type; a queue is bound to the
    # exchanges of the sides that may write the contexts it subscribes to (docs/adr/0009).
    "EXCHANGE": "strangler.events",
    # Who may write each context this side subscribes to but STRANGLER_OWNERSHIP does not list:
    # {"inventory": ["monolith", "inventory-service"], ...}. The ownership record names the two
    # writers of its own contexts; an event type of a context named nowhere is bound from
    # every side these two settings name.
    "WRITERS": {},
    # "quorum" (replicated, delivery limit enforced by RabbitMQ) or "classic".
    "QUEUE_TYPE": "quorum",
    # Deliveries of one message before RabbitMQ dead-letters it (quorum queues only; the
    # embedded transport counts requeues itself).
    "DELIVERY_LIMIT": 5,
    # Seconds to wait for the broker's confirms of one published batch.
    "CONFIRM_TIMEOUT": 10.0,
    # Seconds to wait when connecting to the broker.
    "CONNECT_TIMEOUT": 5.0,
    # AMQP heartbeat in seconds (0 turns it off); dead connections are noticed within ~2x this.
    "HEARTBEAT": 0,
    # Folder of the embedded (filesystem://) transport; empty means var/broker.
    "DATA_FOLDER": "",
}

QUEUE_TYPES = ("quorum", "classic")


@dataclass(frozen=True)
class TransportSettings:
    url: str
    exchange: str
    queue_type: str
    delivery_limit: int
    confirm_timeout: float
    connect_timeout: float
    heartbeat: float
    data_folder: Path
    # The side this process runs as (STRANGLER_SERVICE_NAME): it publishes to its own exchange.
    side: str = "monolith"
    # Context -> the sides that may write it (STRANGLER_OWNERSHIP, then WRITERS).
    writers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def exchange_of(self, side: str) -> str:
        """The topic exchange one side publishes its events to: `<EXCHANGE>.<side>`."""
        return f"{self.exchange}.{side}"

    @property
    def own_exchange(self) -> str:
        """The exchange this process publishes events to (and the only one it may write)."""
        return self.exchange_of(self.side)

    def dead_letter_exchange_of(self, subscriber: str) -> str:
        """The subscriber's own direct exchange: routes to its queues by name (`<queue>`,
        `<queue>.dead`): RabbitMQ's dead-lettering, the inbox's retries and dead letters."""
        return f"{self.exchange}.{subscriber}.dlx"

    def source_sides(self, binding_key: str) -> tuple[str, ...]:
        """The sides whose exchanges a queue binds `binding_key` from.

        The first word of an event type is its context; a context with known writers is bound
        from both (events recorded before a cutover still drain after it, and reverse sync
        works), any other key (a context named nowhere, or a leading wildcard) from every
        known side.
        """
        context = binding_key.split(".", 1)[0]
        if context in self.writers:
            return self.writers[context]
        return self.known_sides

    @property
    def known_sides(self) -> tuple[str, ...]:
        """This side and every writer the ownership record and WRITERS name, sorted."""
        sides = {self.side}
        for writers in self.writers.values():
            sides.update(writers)
        return tuple(sorted(sides))

    def source_exchanges(self, binding_keys: tuple[str, ...]) -> list[tuple[str, str]]:
        """(exchange, binding key) pairs a queue with these binding keys is bound with."""
        return [
            (self.exchange_of(side), key) for key in binding_keys for side in self.source_sides(key)
        ]

    @property
    def is_embedded(self) -> bool:
        return self.url.split("://", 1)[0] == "filesystem"


def transport_settings() -> TransportSettings:
    """STRANGLER_TRANSPORT merged over DEFAULTS; the URL falls back to settings.BROKER_URL."""
    configured = dict(getattr(settings, "STRANGLER_TRANSPORT", {}) or {})
    values = {**DEFAULTS, **configured}
    url = str(values["URL"] or getattr(settings, "BROKER_URL", "") or "filesystem://")
    folder = str(values["DATA_FOLDER"] or "")
    return TransportSettings(
        url=url,
        exchange=str(values["EXCHANGE"]),
        queue_type=str(values["QUEUE_TYPE"]),
        delivery_limit=int(values["DELIVERY_LIMIT"]),
        confirm_timeout=float(values["CONFIRM_TIMEOUT"]),
        connect_timeout=float(values["CONNECT_TIMEOUT"]),
        heartbeat=float(values["HEARTBEAT"]),
        data_folder=Path(folder) if folder else var_dir() / "broker",
        side=this_side(),
        writers=writers_by_context(values["WRITERS"]),
    )


def this_side() -> str:
    """STRANGLER_SERVICE_NAME, the name this process publishes as (the ownership record's)."""
    from strangler.ownership.conf import this_side as ownership_side

    return ownership_side()


def writers_by_context(extra: object) -> dict[str, tuple[str, ...]]:
    """Context -> sides that may write it: STRANGLER_OWNERSHIP's two writers, then `extra`."""
    from strangler.ownership.conf import ownership_settings

    writers = {
        name: tuple(sorted(set(spec.sides))) for name, spec in ownership_settings().contexts.items()
    }
    for name, sides in dict(extra or {}).items():  # type: ignore[call-overload]
        writers.setdefault(str(name), tuple(sorted(str(side) for side in sides)))
    return writers


def var_dir() -> Path:
    """settings.STRANGLER_VAR_DIR, else BASE_DIR/var: where embedded parts keep their files."""
    configured = getattr(settings, "STRANGLER_VAR_DIR", None)
    if configured:
        return Path(configured)
    return Path(getattr(settings, "BASE_DIR", Path.cwd())) / "var"


def configured_subscriptions() -> list[Subscription]:
    """STRANGLER_SUBSCRIPTIONS as Subscription values (what setup_broker declares)."""
    return [
        Subscription(
            subscriber=str(item["subscriber"]),
            queue=str(item["queue"]),
            binding_keys=tuple(str(key) for key in item["binding_keys"]),
        )
        for item in getattr(settings, "STRANGLER_SUBSCRIPTIONS", []) or []
    ]
