"""The monolith's inbox handlers, one registry: reverse sync of each context cut over to its
service (STRANGLER_INBOX["HANDLERS"] names this dict)."""

from __future__ import annotations

from monolith.catalog.handlers import HANDLERS as CATALOG_HANDLERS
from monolith.inventory.handlers import HANDLERS as INVENTORY_HANDLERS

HANDLERS = {**CATALOG_HANDLERS, **INVENTORY_HANDLERS}
