"""The monolith's inbox handlers, one registry: reverse sync of each context cut over to its
service, and the inventory service's answers to the orders' stock sagas
(STRANGLER_INBOX["HANDLERS"] names this dict)."""

from __future__ import annotations

from monolith.catalog.handlers import HANDLERS as CATALOG_HANDLERS
from monolith.inventory.handlers import HANDLERS as INVENTORY_HANDLERS
from monolith.orders.handlers import HANDLERS as ORDERS_HANDLERS

HANDLERS = {**CATALOG_HANDLERS, **INVENTORY_HANDLERS, **ORDERS_HANDLERS}
