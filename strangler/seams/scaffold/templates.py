"""Text templates of the generated files, filled with `string.Template`.

Why string.Template and not Django's template engine: the templates are Python modules, and
`$name` placeholders never collide with Python syntax, while `{{ }}` and `{% %}` do collide with
dict literals and set comprehensions and tags leave stray blank lines that break formatting.
The templates hold no logic: what a service needs is decided in Python, which picks whole
template files (a test module's optional parts are files of their own) and renders values
(`python_literal`) already laid out the way ruff format lays them out.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import Any

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "seams" / "scaffold"
LINE_LENGTH = 100


def render(template_name: str, **values: Any) -> str:
    """The template with every $placeholder substituted; a missing value is an error."""
    text = (TEMPLATES / template_name).read_text(encoding="utf-8")
    return Template(text).substitute(**values)


def join_parts(*parts: str) -> str:
    """Module parts separated by two blank lines, as between top-level definitions."""
    return "\n\n\n".join(part.strip("\n") for part in parts if part.strip()) + "\n"


def python_literal(value: Any, *, indent: int = 0, used: int = 0) -> str:
    """`value` as Python source: inline when it fits on the line, else one item per line with a
    trailing comma (so ruff format keeps it as it is). `used` is the width already taken on the
    first line, `indent` the indentation of the lines that follow."""
    inline = _inline(value)
    if len(inline) + used + 1 <= LINE_LENGTH or not isinstance(value, dict | list | tuple):
        return inline
    inner = " " * (indent + 4)
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            head = f"{inner}{_inline(key)}: "
            items.append(head + python_literal(item, indent=indent + 4, used=len(head)) + ",")
        opening, closing = "{", "}"
    else:
        items = [
            inner + python_literal(item, indent=indent + 4, used=len(inner)) + "," for item in value
        ]
        opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
    return opening + "\n" + "\n".join(items) + "\n" + " " * indent + closing


def _inline(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_inline(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, tuple):
        body = ", ".join(_inline(v) for v in value)
        return f"({body},)" if len(value) == 1 else f"({body})"
    if isinstance(value, Path):
        return _inline(str(value))
    return repr(value)
