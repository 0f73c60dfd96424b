"""The wire format of a copied chunk: PostgreSQL's COPY text format, one line per row.

A line is the key, the compared fields in field order (sorted by payload name) and the writer's
aggregate version, separated by tabs; NULL is `\\N`; a backslash, tab, newline or carriage return
inside a value is escaped. PostgreSQL writes and reads it natively (`COPY ... TO STDOUT` on the
writer, `COPY ... FROM STDIN` into the projection: the bytes pass through untouched); on SQLite
the same lines are made and read here, value by value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from strangler.sync.canonical import CanonicalValueError, render_value

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_ESCAPED = re.compile(r"\\(.)")


def encode_value(kind: str, value: Any) -> str:
    """One value as COPY text: its display text (strangler.sync.canonical), escaped."""
    text = render_value(kind, value)
    return NULL if text is None else text.translate(_ESCAPES)


def encode_row(key: int, kinds: Sequence[str], values: Sequence[Any], version: int) -> str:
    """One line (without its newline) of a chunk."""
    fields = "\t".join(encode_value(kind, v) for kind, v in zip(kinds, values, strict=True))
    return f"{key}\t{fields}\t{version}" if kinds else f"{key}\t{version}"


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPED.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(1)), text)


def parse_value(kind: str, text: str) -> Any:
    """The Python value of one COPY field of a kind (None for NULL)."""
    if text == NULL:
        return None
    text = _unescape(text)
    try:
        if kind == "int":
            return int(text)
        if kind == "text":
            return text
        if kind == "money":
            return Decimal(text)
        if kind == "bool":
            if text in ("t", "true"):
                return True
            if text in ("f", "false"):
                return False
            raise ValueError("not t, f, true or false")
        if kind == "timestamp":
            return datetime.fromisoformat(_iso_offset(text.replace("Z", "+00:00")))
        if kind == "date":
            return date.fromisoformat(text)
    except (ValueError, ArithmeticError) as exc:
        raise CanonicalValueError(f"{text!r} is not a valid {kind}: {exc}") from exc
    raise CanonicalValueError(f"unknown field kind {kind!r}")


def _iso_offset(text: str) -> str:
    """PostgreSQL writes a UTC offset as `+00`; Python's fromisoformat wants `+00:00`."""
    if len(text) > 3 and text[-3] in "+-" and text[-2:].isdigit():
        return text + ":00"
    return text


def parse_rows(data: str, kinds: Sequence[str]) -> Iterator[tuple[int, list[Any], int]]:
    """(key, field values, version) of each line of a chunk."""
    width = len(kinds) + 2
    for line in data.splitlines():
        parts = line.split("\t")
        if len(parts) != width:
            raise CanonicalValueError(
                f"a copied line has {len(parts)} fields, {width} expected: {line[:200]!r}"
            )
        values = [parse_value(kind, text) for kind, text in zip(kinds, parts[1:-1], strict=True)]
        yield int(parts[0]), values, int(parts[-1])
