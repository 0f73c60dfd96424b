"""Declare the events exchange and every configured subscription's queues, idempotently."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.transport import get_transport
from strangler.transport.base import TransportError
from strangler.transport.conf import configured_subscriptions, transport_settings


class Command(BaseCommand):
    help = (
        "Declare the durable topic exchange (STRANGLER_TRANSPORT['EXCHANGE']), its dead-letter "
        "exchange, and for each entry of STRANGLER_SUBSCRIPTIONS a durable queue bound with its "
        "binding keys plus a `<queue>.dead` queue. Safe to run any number of times."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be declared; touch nothing."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        settings = transport_settings()
        subscriptions = configured_subscriptions()
        self.stdout.write(
            f"broker: {settings.url.split('@')[-1]}  exchange: {settings.exchange} (topic, durable)"
            f"  queue type: {settings.queue_type}"
        )
        if not subscriptions:
            self.stdout.write("STRANGLER_SUBSCRIPTIONS is empty: no queue to declare.")
        transport = get_transport(settings)
        try:
            if not dry_run:
                transport.declare_exchanges()
            for subscription in subscriptions:
                if not dry_run:
                    transport.declare_subscription(subscription)
                verb = "would declare" if dry_run else "declared"
                self.stdout.write(
                    f"{verb} {subscription.queue} (+ {subscription.dead_letter_queue}) for "
                    f"{subscription.subscriber}, bound to {', '.join(subscription.binding_keys)}"
                )
        except TransportError as exc:
            raise CommandError(f"{exc} (is the broker at BROKER_URL running?)") from exc
        finally:
            transport.close()
