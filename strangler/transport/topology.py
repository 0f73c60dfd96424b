"""AMQP topic-exchange matching (`*` one word, `#` zero or more) and binding-key validation."""

from __future__ import annotations

from functools import lru_cache


class TopologyError(ValueError):
    """A binding key or queue declaration is not valid."""


def validate_binding_key(key: str) -> None:
    """Raise TopologyError unless key is a dot-separated topic pattern of non-empty words."""
    if not isinstance(key, str) or not key:
        raise TopologyError(f"binding key {key!r} must be a non-empty string")
    for word in key.split("."):
        if not word:
            raise TopologyError(f"binding key {key!r} has an empty word (two dots or an edge dot)")
        if ("*" in word or "#" in word) and word not in ("*", "#"):
            raise TopologyError(
                f"binding key {key!r}: '*' and '#' must stand alone between dots, got {word!r}"
            )


def topic_matches(pattern: str, routing_key: str) -> bool:
    """True when routing_key matches the topic pattern, as a RabbitMQ topic exchange decides."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


@lru_cache(maxsize=4096)
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        # '#' swallows zero words, or one more word and stays in place.
        return _match(rest, words) or (bool(words) and _match(pattern, words[1:]))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
