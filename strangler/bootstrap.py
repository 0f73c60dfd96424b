"""Where the kit's long-running parts are built: one relay and one consumer, checked, for all.

`manage.py outbox_relay`, `manage.py consume_events`, the Celery task and worker step, and the
tests build them here, so each gets the same settings, checks and transport.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from strangler.inbox.conf import InboxConfigurationError, InboxSettings, inbox_settings

if TYPE_CHECKING:
    from strangler.inbox.consumer import InboxConsumer
    from strangler.outbox.conf import OutboxSettings
    from strangler.outbox.relay import OutboxRelay, PendingEvent
    from strangler.transport.base import Transport


def check_inbox(conf: InboxSettings) -> None:
    """Refuse an inbox configuration that cannot consume; InboxConfigurationError says why.

    The checks that depend on the values in effect (settings merged with a command's options),
    which Django's system checks (inbox.E00x) cannot see.
    """
    if conf.prefetch < conf.batch_size:
        raise InboxConfigurationError(
            f"PREFETCH ({conf.prefetch}) is smaller than BATCH_SIZE ({conf.batch_size}): batches "
            "would never fill; raise STRANGLER_INBOX['PREFETCH'] (or --prefetch)."
        )
    if not conf.subscriber:
        raise InboxConfigurationError(
            "the inbox has no subscriber name; set STRANGLER_INBOX['SUBSCRIBER'] or "
            "STRANGLER_SERVICE_NAME."
        )


def build_consumer(
    *,
    transport_factory: Callable[[], Transport] | None = None,
    **overrides: Any,
) -> InboxConsumer:
    """The inbox consumer of STRANGLER_INBOX (keyword overrides win, e.g. batch_size=50).

    Raises InboxConfigurationError when the configuration cannot consume (prefetch below the
    batch size, no subscriber, handlers that cannot be imported).
    """
    from strangler.inbox.consumer import InboxConsumer
    from strangler.transport import get_transport

    conf = inbox_settings(**overrides)
    check_inbox(conf)
    return InboxConsumer(transport_factory=transport_factory or get_transport, settings=conf)


def build_relay(
    *,
    transport: Transport | None = None,
    settings: OutboxSettings | None = None,
    batch_size: int | None = None,
    after_confirm: Callable[[Sequence[PendingEvent]], None] | None = None,
) -> OutboxRelay:
    """The outbox relay of STRANGLER_OUTBOX with a transport of its own (relay.close() ends it)."""
    from strangler.outbox.conf import outbox_settings
    from strangler.outbox.relay import OutboxRelay
    from strangler.transport import get_transport

    return OutboxRelay(
        transport=transport or get_transport(),
        settings=settings or outbox_settings(),
        batch_size=batch_size,
        after_confirm=after_confirm,
    )


def check_project() -> None:
    """Django's system checks, as every management command runs them before it starts.

    A Celery worker runs no management command, so its inbox step calls this: a misspelt
    STRANGLER_INBOX key stops the worker as it stops `consume_events`.
    """
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured

    serious = [m for m in checks.run_checks() if m.is_serious() and not m.is_silenced()]
    if serious:
        raise ImproperlyConfigured(
            "system checks failed: " + "; ".join(f"{m.id}: {m.msg}" for m in serious)
        )
