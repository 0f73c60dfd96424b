"""How the published language spells money and time: the text both sides must agree on byte for
byte (docs/adr/0006), written once here and used by every side's payload builders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def money_text(value: Decimal | int | str) -> str:
    """A money amount as a string with two decimals ("12.50"), never a float.

    A negative zero (which DRF's min_value=0 lets through as "-0.00") is written "0.00": the
    schemas refuse a minus sign wherever the API refuses negatives.
    """
    return f"{Decimal(value) + 0:.2f}"


def utc_timestamp(value: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a trailing Z; a naive one is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes have no place in event payloads; USE_TZ must be on")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
