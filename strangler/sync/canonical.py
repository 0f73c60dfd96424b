"""The canonical text of an aggregate row, its 64-bit hash, and the same computed in PostgreSQL.

Both sides of a migration hash the compared fields of a row the same way, whatever database they
use, so that range checksums computed on each side can be compared:

    canonical = f"{key}|" + part(field_1) + ... + part(field_n)   (fields sorted by name)
    part(v)   = "~" when v is NULL; for a text kind f"{len(text)}:{text}" (length-prefixed, so no
                value can forge a boundary); for the other kinds, whose texts never hold "|",
                f"{text}|" (one evaluation of the value in SQL, which keeps hashing cheap)
    hash      = first 8 bytes of md5(canonical) as a signed big-endian 64-bit integer
    checksum  = sum of the hashes of a key range (exact; numeric in SQL, int in Python)

The text of each value depends on its kind only (int, text, money, bool, timestamp, date), which is
how the payload of the snapshot event renders it, so a row and its projection agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

NULL = "~"


class CanonicalValueError(ValueError):
    """A value cannot be rendered as its declared kind (a misconfigured field kind)."""


def render_value(kind: str, value: Any) -> str | None:
    """The canonical text of one value of a kind; None for NULL."""
    if value is None:
        return None
    try:
        if kind == "int":
            return str(int(value))
        if kind == "text":
            return str(value)
        if kind == "money":
            return f"{Decimal(str(value)):.2f}"
        if kind == "bool":
            return "true" if value else "false"
        if kind == "timestamp":
            if isinstance(value, str):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if kind == "date":
            if isinstance(value, datetime):
                value = value.date()
            if isinstance(value, str):
                value = date.fromisoformat(value)
            return value.isoformat()
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise CanonicalValueError(f"{value!r} is not a valid {kind}: {exc}") from exc
    raise CanonicalValueError(f"unknown field kind {kind!r}")


def canonical_text(key: int, rendered: Sequence[str | None], kinds: Sequence[str]) -> str:
    """The canonical text of a row from its key and its rendered field values (in field order);
    the kind of each field decides how its value is delimited."""
    parts = [f"{key}|"]
    for index, text in enumerate(rendered):
        if text is None:
            parts.append(NULL)
        elif kinds[index] == "text":
            parts.append(f"{len(text)}:{text}")
        else:
            parts.append(f"{text}|")
    return "".join(parts)


def row_hash(text: str) -> int:
    """Signed 64-bit hash of a canonical text (md5 prefix: identical in Python and PostgreSQL)."""
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big", signed=True)


def render_row(kinds: Sequence[str], values: Iterable[Any]) -> list[str | None]:
    """Rendered values of one row, in field order."""
    return [render_value(kind, value) for kind, value in zip(kinds, values, strict=True)]


def postgres_value_sql(kind: str, column_sql: str) -> str:
    """SQL rendering a column as render_value(kind, ...) does, NULL for NULL."""
    if kind in ("int", "text"):
        return f"({column_sql})::text"
    if kind == "money":
        return f"round(({column_sql})::numeric, 2)::text"
    if kind == "bool":
        return f"CASE WHEN {column_sql} THEN 'true' WHEN NOT {column_sql} THEN 'false' END"
    if kind == "timestamp":
        return f"to_char(({column_sql}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    if kind == "date":
        return f"to_char({column_sql}, 'YYYY-MM-DD')"
    raise CanonicalValueError(f"unknown field kind {kind!r}")


def postgres_row_hash_sql(key_sql: str, fields: Sequence[tuple[str, str]]) -> str:
    """SQL of row_hash(canonical_text(...)) over (kind, column SQL) pairs."""
    parts = [f"({key_sql})::text || '|'"]
    for kind, column_sql in fields:
        value = postgres_value_sql(kind, column_sql)
        if kind == "text":
            parts.append(f"COALESCE(length({value})::text || ':' || {value}, '{NULL}')")
        else:
            parts.append(f"COALESCE({value} || '|', '{NULL}')")
    text = " || ".join(f"({part})" for part in parts)
    return f"('x' || left(md5({text}), 16))::bit(64)::bigint"
