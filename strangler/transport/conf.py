"""Settings of strangler.transport (STRANGLER_TRANSPORT), with their defaults, read in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from strangler.transport.base import Subscription

DEFAULTS: dict[str, object] = {
    # Broker URL; empty means settings.BROKER_URL (itself from the BROKER_URL variable).
    # amqp://user:pass@host:5672/vhost for RabbitMQ, filesystem:// for the embedded transport.
    "URL": "",
    # The durable topic exchange every event is published to; routing key = event type.
    "EXCHANGE": "strangler.events",
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

    @property
    def dead_letter_exchange(self) -> str:
        """The direct exchange that routes a queue's rejected messages to `<queue>.dead`."""
        return f"{self.exchange}.dlx"

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
    )


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
