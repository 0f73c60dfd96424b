"""Compare a monolith response with a service response: status, chosen headers, normalised JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from strangler.gateway.jsonpath import JSONPath, remove_paths

_MISSING = object()
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True, slots=True)
class CapturedResponse:
    """What one side answered, as far as the comparison needs it."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Difference:
    """One place where the two answers differ: `path: monolith value -> service value`."""

    path: str
    monolith: Any
    service: Any

    @property
    def pattern(self) -> str:
        """The path with list indices generalised, to group the same difference across items."""
        return _INDEX.sub("[*]", self.path)

    def __str__(self) -> str:
        return f"{self.path}: {_show(self.monolith)} -> {_show(self.service)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "monolith": _jsonable(self.monolith),
            "service": _jsonable(self.service),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    differences: list[Difference] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return not self.differences

    def readable(self) -> str:
        """One line per difference, the way `shadow_report` and the admin show them."""
        return "\n".join(str(d) for d in self.differences)


def compare_responses(
    monolith: CapturedResponse,
    service: CapturedResponse,
    *,
    ignore: list[JSONPath],
    headers: tuple[str, ...],
) -> Comparison:
    """Compare two answers; JSON bodies are compared after removing the ignored paths."""
    differences: list[Difference] = []
    if monolith.status != service.status:
        differences.append(Difference("status", monolith.status, service.status))
    for name in headers:
        left = monolith.headers.get(name, _MISSING)
        right = service.headers.get(name, _MISSING)
        if left != right:
            differences.append(Difference(f"header {name}", left, right))
    if monolith.body == service.body:
        # The common case of a faithful service, and the cheap one: no parsing, no walking.
        return Comparison(differences)
    left_doc = _decode(monolith)
    right_doc = _decode(service)
    if left_doc is not _MISSING and right_doc is not _MISSING:
        left_doc, right_doc = remove_paths(left_doc, ignore), remove_paths(right_doc, ignore)
        if _canonical(left_doc) != _canonical(right_doc):
            # Only a real difference is walked (building a path for every node is the cost).
            _diff_values("$", left_doc, right_doc, differences)
    else:
        differences.append(Difference("body", _summary(monolith.body), _summary(service.body)))
    return Comparison(differences)


def _canonical(document: Any) -> str:
    """Equal text means equal documents (true and 1, 1 and 1.0 differ here: the walk decides)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _decode(response: CapturedResponse) -> Any:
    """The parsed JSON body, or _MISSING when the body is not JSON."""
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type and not response.body.lstrip().startswith((b"{", b"[")):
        return _MISSING
    try:
        return json.loads(response.body)
    except ValueError:
        return _MISSING


def _diff_values(path: str, left: Any, right: Any, out: list[Difference]) -> None:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in list(left) + [k for k in right if k not in left]:
            child = f"{path}.{key}" if _plain_key(key) else f"{path}[{json.dumps(key)}]"
            _diff_values(child, left.get(key, _MISSING), right.get(key, _MISSING), out)
        return
    if isinstance(left, list) and isinstance(right, list):
        for index in range(max(len(left), len(right))):
            _diff_values(
                f"{path}[{index}]",
                left[index] if index < len(left) else _MISSING,
                right[index] if index < len(right) else _MISSING,
                out,
            )
        return
    if left is _MISSING and right is _MISSING:
        return
    if left is _MISSING or right is _MISSING or not _same_scalar(left, right):
        out.append(Difference(path, left, right))


def _same_scalar(left: Any, right: Any) -> bool:
    # JSON has one number type (1 == 1.0), but bool is an int in Python and true != 1.
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers):
        if isinstance(left, bool) or isinstance(right, bool):
            return type(left) is type(right) and left == right
        return left == right
    return type(left) is type(right) and left == right


def _plain_key(key: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", key))


def _summary(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace")
    return text + ("..." if len(body) > 200 else "") + f" ({len(body)} bytes)"


def _jsonable(value: Any) -> Any:
    return "<missing>" if value is _MISSING else value


def _show(value: Any) -> str:
    if value is _MISSING:
        return "<missing>"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
