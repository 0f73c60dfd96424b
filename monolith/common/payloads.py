"""JSON-safe renderings used by every context's event payload builders: the contract's own
(shared_contracts.payloads), so every side spells money and time the same way."""

from __future__ import annotations

from shared_contracts.payloads import money_text, utc_timestamp

__all__ = ["money_text", "utc_timestamp"]
