"""Sample payloads of the context's events, made from their JSON schemas for the generated
tests, and checked against those schemas."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from strangler.seams.scaffold.plan import ScaffoldError


def sample_payload(schema: Mapping[str, Any]) -> Any:
    """A small valid instance of a JSON schema (checked with jsonschema by the caller)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {name: sample_payload(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [
            sample_payload(schema.get("items", {}))
            for _ in range(max(1, schema.get("minItems", 1)))
        ]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "string":
        return _sample_string(schema)
    raise ScaffoldError(f"cannot make a sample for schema {schema!r}")


def _sample_string(schema: Mapping[str, Any]) -> str:
    if schema.get("format") == "date-time":
        return "2026-01-02T03:04:05Z"
    if schema.get("format") == "date":
        return "2026-01-02"
    minimum, maximum = schema.get("minLength", 1), schema.get("maxLength", 40)
    pattern = schema.get("pattern")
    candidates = ["sample@example.com", "12.50", "EUR", "DE", "sample"]
    if pattern:
        for candidate in candidates:
            if re.search(pattern, candidate) and minimum <= len(candidate) <= maximum:
                return candidate
        return _string_from_pattern(pattern, minimum, maximum)
    text = "sample text"
    return (text * (minimum // len(text) + 1))[: max(minimum, min(len(text), maximum))]


def _string_from_pattern(pattern: str, minimum: int, maximum: int) -> str:
    """The simplest string that matches `pattern` and the length bounds (hypothesis finds it)."""
    from hypothesis import find, settings
    from hypothesis import strategies as st
    from hypothesis.errors import NoSuchExample

    strategy = st.from_regex(pattern).filter(lambda s: minimum <= len(s) <= maximum)
    try:
        return find(strategy, lambda s: True, settings=settings(database=None, max_examples=500))
    except NoSuchExample as exc:
        raise ScaffoldError(f"no sample string matches {pattern!r}") from exc


def check_samples(samples: Mapping[str, Any], events: Mapping[str, Mapping[str, Any]]) -> None:
    """Every generated sample is valid against its schema (else the generated tests would lie)."""
    import jsonschema

    for event_type, sample in samples.items():
        try:
            jsonschema.validate(sample["data"], events[event_type])
        except jsonschema.ValidationError as exc:
            raise ScaffoldError(
                f"generated sample of {event_type} is invalid: {exc.message}"
            ) from exc
