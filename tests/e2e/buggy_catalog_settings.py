"""The catalog service with a bug in its product handler: how a bad release dead-letters events."""

from __future__ import annotations

from typing import Any

from extracted.catalog.catalog.handlers import HANDLERS as FIXED_HANDLERS
from extracted.catalog.config.settings import *  # noqa: F403
from extracted.catalog.config.settings import STRANGLER_INBOX


class HandlerBug(RuntimeError):
    """The defect this release ships with."""


def apply_product_upserted_with_a_bug(event: Any) -> None:
    raise HandlerBug(f"product {event.subject}: price parsing is broken in this release")


HANDLERS = {**FIXED_HANDLERS, "catalog.product.upserted": apply_product_upserted_with_a_bug}
STRANGLER_INBOX = {**STRANGLER_INBOX, "HANDLERS": "tests.e2e.buggy_catalog_settings.HANDLERS"}
