"""A small JSONPath subset ($, .key, ['key'], [n], [*]) to find and remove volatile fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

WILDCARD = "*"


class JSONPathError(ValueError):
    """The expression is outside the supported subset or malformed."""


@dataclass(frozen=True, slots=True)
class JSONPath:
    """A parsed path: a tuple of steps, each a key (str), an index (int) or the wildcard."""

    expression: str
    steps: tuple[str | int, ...]


_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_\-]*|\*)      # .key or .*
      | \[\s*(?P<index>-?\d+)\s*\]                      # [3]
      | \[\s*(?P<star>\*)\s*\]                          # [*]
      | \[\s*'(?P<squoted>(?:[^'\\]|\\.)*)'\s*\]       # ['key']
      | \[\s*"(?P<dquoted>(?:[^"\\]|\\.)*)"\s*\]       # ["key"]
    """,
    re.VERBOSE,
)


def parse_path(expression: str) -> JSONPath:
    """Parse `$.results[*].updated_at`-style expressions; raise JSONPathError when unsupported."""
    text = expression.strip()
    if not text.startswith("$"):
        raise JSONPathError(f"{expression!r}: a path starts with '$'")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise JSONPathError(
                f"{expression!r}: cannot read {text[position:]!r}; supported: "
                "$, .key, ['key'], [n], [*]"
            )
        if match.group("name") is not None:
            steps.append(match.group("name"))
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        elif match.group("star") is not None:
            steps.append(WILDCARD)
        else:
            quoted = match.group("squoted")
            if quoted is None:
                quoted = match.group("dquoted")
            # A quoted '*' is a key named "*", not the wildcard.
            steps.append(_QuotedKey(re.sub(r"\\(.)", r"\1", quoted)))
        position = match.end()
    return JSONPath(expression, tuple(steps))


class _QuotedKey(str):
    """A key given in brackets: never treated as the wildcard."""


def remove_paths(document: Any, paths: list[JSONPath]) -> Any:
    """The document without the values the paths point at (missing ones are fine); a copy when
    there is anything to remove, the document itself otherwise."""
    if not paths:
        return document
    result = _copy(document)
    for path in paths:
        if path.steps:
            _remove(result, path.steps)
        else:
            return None  # "$" ignores the whole document
    return result


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _children(node: Any, step: str | int) -> list[tuple[Any, str | int]]:
    """(container, key) pairs a step selects in node."""
    if step == WILDCARD and not isinstance(step, _QuotedKey):
        if isinstance(node, dict):
            return [(node, key) for key in list(node)]
        if isinstance(node, list):
            return [(node, index) for index in range(len(node))]
        return []
    if isinstance(step, int):
        if isinstance(node, list) and -len(node) <= step < len(node):
            return [(node, step % len(node))]
        return []
    if isinstance(node, dict) and step in node:
        return [(node, step)]
    return []


def _remove(node: Any, steps: tuple[str | int, ...]) -> None:
    step, rest = steps[0], steps[1:]
    selected = _children(node, step)
    if rest:
        for container, key in selected:
            _remove(container[key], rest)
        return
    # Delete list items from the highest index down so earlier deletions do not shift later ones.
    for container, key in sorted(selected, key=lambda pair: pair[1], reverse=True):
        del container[key]
