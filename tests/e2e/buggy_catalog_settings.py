"""The catalog service with a bug in its product handler: how a bad release dead-letters events."""

from __future__ import annotations

from extracted.catalog.config.settings import *  # noqa: F403
from extracted.catalog.config.settings import STRANGLER_INBOX

STRANGLER_INBOX = {**STRANGLER_INBOX, "HANDLERS": "tests.e2e.buggy_catalog_handlers.HANDLERS"}
