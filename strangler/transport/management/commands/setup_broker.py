"""Declare this side's exchanges and queues idempotently; with --users, its own broker user."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler.transport import get_transport
from strangler.transport.base import Subscription, TransportError
from strangler.transport.conf import (
    TransportSettings,
    configured_subscriptions,
    transport_settings,
)
from strangler.transport.users import (
    BrokerUserError,
    ensure_broker_user,
    side_permissions,
    vhost_of,
)


class Command(BaseCommand):
    help = (
        "Declare this side's durable topic exchange (`<STRANGLER_TRANSPORT['EXCHANGE']>.<side>`) "
        "and the exchanges of the sides it knows, and for each entry of STRANGLER_SUBSCRIPTIONS a "
        "durable queue bound to the exchanges of the sides that may write each binding key's "
        "context, a `<queue>.dead` queue and the subscriber's own direct exchange. With --users "
        "(RabbitMQ only, run with the operator's account on the broker's host), also create the "
        "side's broker user with rabbitmqctl and grant it its own exchanges and queues only. "
        "Safe to run any number of times."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be declared; touch nothing."
        )
        parser.add_argument(
            "--users",
            action="store_true",
            help=(
                "Also create this side's RabbitMQ user (rabbitmqctl add_user, set_permissions) "
                "and print the broker URL its processes use (STRANGLER_BROKER_URL). The password "
                "is STRANGLER_BROKER_PASSWORD when set, else generated and printed once; an "
                "existing user keeps its password unless STRANGLER_BROKER_PASSWORD is set."
            ),
        )
        parser.add_argument(
            "--user",
            default="",
            help="Name of the side's broker user (default: STRANGLER_SERVICE_NAME).",
        )
        parser.add_argument(
            "--rabbitmqctl",
            default="rabbitmqctl",
            help="The rabbitmqctl to run (default: rabbitmqctl on PATH).",
        )

    def handle(
        self,
        *args: Any,
        dry_run: bool = False,
        users: bool = False,
        user: str = "",
        rabbitmqctl: str = "rabbitmqctl",
        **options: Any,
    ) -> None:
        settings = transport_settings()
        subscriptions = configured_subscriptions()
        self.stdout.write(
            f"broker: {settings.url.split('@')[-1]}  side: {settings.side}  exchange: "
            f"{settings.own_exchange} (topic, durable)  queue type: {settings.queue_type}"
        )
        if users and settings.is_embedded:
            raise CommandError("--users needs RabbitMQ: the embedded transport has no users.")
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
                sources = ", ".join(
                    f"{key} from {exchange}"
                    for exchange, key in settings.source_exchanges(subscription.binding_keys)
                )
                self.stdout.write(
                    f"{verb} {subscription.queue} (+ {subscription.dead_letter_queue}) for "
                    f"{subscription.subscriber}, bound to {sources}"
                )
        except TransportError as exc:
            raise CommandError(f"{exc} (is the broker at BROKER_URL running?)") from exc
        finally:
            transport.close()
        if users:
            self._ensure_user(settings, subscriptions, user or settings.side, rabbitmqctl, dry_run)

    def _ensure_user(
        self,
        settings: TransportSettings,
        subscriptions: list[Subscription],
        name: str,
        rabbitmqctl: str,
        dry_run: bool,
    ) -> None:
        permissions = side_permissions(settings, subscriptions)
        vhost = vhost_of(settings.url)
        self.stdout.write(
            f"broker user {name} on vhost {vhost}: configure {permissions.configure}  "
            f"write {permissions.write}  read {permissions.read}"
        )
        if dry_run:
            return
        try:
            made = ensure_broker_user(
                name,
                vhost=vhost,
                permissions=permissions,
                password=os.environ.get("STRANGLER_BROKER_PASSWORD", ""),
                rabbitmqctl=rabbitmqctl,
            )
        except BrokerUserError as exc:
            raise CommandError(str(exc)) from exc
        if made.created:
            self.stdout.write(f"created broker user {name}.")
        elif made.password:
            self.stdout.write(f"broker user {name} exists: password changed.")
        else:
            self.stdout.write(f"broker user {name} exists: password unchanged (shown as ...).")
        # Printed once: the only place a generated password appears. Store it as this side's
        # STRANGLER_BROKER_URL.
        self.stdout.write(f"STRANGLER_BROKER_URL={made.url(settings.url)}")
