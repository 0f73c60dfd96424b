"""The catalog service with a bad release: its consumer stores every product at ten times its
price, so the service starts answering wrong prices."""

from __future__ import annotations

from extracted.catalog.config.settings import *  # noqa: F403
from extracted.catalog.config.settings import STRANGLER_INBOX

STRANGLER_INBOX = {**STRANGLER_INBOX, "HANDLERS": "tests.e2e.wrong_price_catalog_handlers.HANDLERS"}
