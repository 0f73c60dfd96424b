"""The canonical text of an aggregate row, its 64-bit hash, and the same computed in PostgreSQL.

Both sides of a migration hash the compared fields of a row the same way, whatever database they
use, so that range checksums computed on each side can be compared:

    canonical = f"{key}|" + part(field_1) + ... + part(field_n)   (fields sorted by name)
    part(v)   = "~" when v is NULL; for a text kind f"{len(text)}:{text}" (length-prefixed, so no
                value can forge a boundary); for the other kinds, whose texts never hold "|",
                f"{text}|" (one evaluation of the value in SQL, which keeps hashing cheap)
    hash      = PostgreSQL's hashtextextended(canonical, 0) (Bob Jenkins' lookup3, 64 bits),
                as a signed 64-bit integer; `hash_bytes_extended` is the same in Python
    checksum  = sum of the hashes of a key range (exact; numeric in SQL, int in Python)

Two texts per value. The *display* text (render_value) is how the snapshot event's payload renders
the value (ISO timestamps, "true"/"false"): what the rows endpoint sends and a drift report shows.
The *hash* text (hash_value) is a cheaper form of the same value for checksums, chosen because
PostgreSQL renders it several times faster (a timestamp as microseconds since the epoch instead of
to_char, a bool as t/f): hashing 10 million rows is dominated by building these texts. Both depend
on the kind only (int, text, money, bool, timestamp, date), so a row and its projection agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

NULL = "~"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = date(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)


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
            return _moment(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if kind == "date":
            return _day(value).isoformat()
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise CanonicalValueError(f"{value!r} is not a valid {kind}: {exc}") from exc
    raise CanonicalValueError(f"unknown field kind {kind!r}")


def _moment(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value


def hash_value(kind: str, value: Any) -> str | None:
    """The hash text of one value of a kind (see the module docstring); None for NULL."""
    if value is None:
        return None
    try:
        if kind in ("int", "text", "money"):
            return render_value(kind, value)
        if kind == "bool":
            return "t" if value else "f"
        if kind == "timestamp":
            return str((_moment(value) - EPOCH) // MICROSECOND)
        if kind == "date":
            return str((_day(value) - EPOCH_DATE).days)
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
    """Signed 64-bit hash of a canonical text, equal to PostgreSQL's hashtextextended(text, 0)."""
    value = hash_bytes_extended(text.encode())
    return value - (1 << 64) if value >= 1 << 63 else value


def row_checksum(key: int, values: Sequence[Any], kinds: Sequence[str]) -> int:
    """The hash reconcile sums for one row: its key and raw field values, in field order."""
    rendered = [hash_value(kind, value) for kind, value in zip(kinds, values, strict=True)]
    return row_hash(canonical_text(key, rendered, kinds))


_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _MASK
    a ^= _rot(c, 4)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 6)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 8)
    b = (b + a) & _MASK
    a = (a - c) & _MASK
    a ^= _rot(c, 16)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 19)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 4)
    b = (b + a) & _MASK
    return a, b, c


def _final(a: int, b: int, c: int) -> tuple[int, int, int]:
    c ^= b
    c = (c - _rot(b, 14)) & _MASK
    a ^= c
    a = (a - _rot(c, 11)) & _MASK
    b ^= a
    b = (b - _rot(a, 25)) & _MASK
    c ^= b
    c = (c - _rot(b, 16)) & _MASK
    a ^= c
    a = (a - _rot(c, 4)) & _MASK
    b ^= a
    b = (b - _rot(a, 14)) & _MASK
    c ^= b
    c = (c - _rot(b, 24)) & _MASK
    return a, b, c


def hash_bytes_extended(data: bytes) -> int:
    """PostgreSQL's hash_bytes_extended(data, len, seed 0) (src/common/hashfn.c), unsigned.

    Bob Jenkins' lookup3 as PostgreSQL runs it on a little-endian machine; what
    hashtextextended(text, 0) returns for a text with a deterministic collation.
    """
    length = len(data)
    a = b = c = (0x9E3779B9 + length + 3923095) & _MASK
    offset = 0
    while length - offset >= 12:
        a = (a + int.from_bytes(data[offset : offset + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[offset + 4 : offset + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[offset + 8 : offset + 12], "little")) & _MASK
        a, b, c = _mix(a, b, c)
        offset += 12
    tail = data[offset:]
    rest = len(tail)
    # The lowest byte of c is reserved for the length: c takes bytes 8..10 shifted up by 8.
    if rest > 8:
        c = (c + (int.from_bytes(tail[8:], "little") << 8)) & _MASK
    if rest > 4:
        b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    if rest > 0:
        a = (a + int.from_bytes(tail[:4], "little")) & _MASK
    a, b, c = _final(a, b, c)
    return (b << 32) | c


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


def postgres_hash_value_sql(kind: str, column_sql: str) -> str:
    """SQL rendering a column as hash_value(kind, ...) does, NULL for NULL."""
    if kind in ("int", "text", "money"):
        return postgres_value_sql(kind, column_sql)
    if kind == "bool":
        return f"CASE WHEN {column_sql} THEN 't' WHEN NOT {column_sql} THEN 'f' END"
    if kind == "timestamp":
        # extract(epoch) is numeric (exact) since PostgreSQL 14.
        return f"(extract(epoch FROM {column_sql}) * 1000000)::bigint::text"
    if kind == "date":
        return f"(({column_sql}) - DATE '1970-01-01')::text"
    raise CanonicalValueError(f"unknown field kind {kind!r}")


def postgres_row_hash_sql(key_sql: str, fields: Sequence[tuple[str, str]]) -> str:
    """SQL of row_checksum(...) over (kind, column SQL) pairs: one bigint per row."""
    parts = [f"({key_sql})::text || '|'"]
    for kind, column_sql in fields:
        value = postgres_hash_value_sql(kind, column_sql)
        if kind == "text":
            parts.append(f"COALESCE(length({value})::text || ':' || {value}, '{NULL}')")
        else:
            parts.append(f"COALESCE({value} || '|', '{NULL}')")
    text = " || ".join(f"({part})" for part in parts)
    return f"hashtextextended({text}, 0)"
