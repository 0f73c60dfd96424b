"""One broker interface over kombu: RabbitMQ (amqp://) or the embedded filesystem transport."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strangler.transport.base import Transport
    from strangler.transport.conf import TransportSettings


def get_transport(settings: TransportSettings | None = None) -> Transport:
    """A new transport for the configured broker URL; it connects on first use, not here."""
    from strangler.transport.conf import transport_settings

    settings = settings or transport_settings()
    if settings.is_embedded:
        from strangler.transport.embedded import EmbeddedTransport

        return EmbeddedTransport(settings)
    from strangler.transport.rabbitmq import RabbitMQTransport

    return RabbitMQTransport(settings)
