"""The fenced blocks of a guide in docs/, for tests that execute guides as written.

A block a test runs carries a marker on the line right above its fence, `<!-- test: WHAT -->`
(`run`, `retry`, `background`, ... as the guide's test defines them); the convention of
tests/adopt/test_adopt_guide.py, so every executed guide reads the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(r"<!--\s*test:\s*(?P<what>[\w -]+?)\s*-->")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it starts, its language, its marker ('' when none) and text."""

    line: int
    language: str
    marker: str
    text: str


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced block of the guide, in order, with the marker above it if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith("```"):
            end = lines.index("```", index + 1)
            above = lines[index - 1].strip() if index else ""
            marker = MARKER.fullmatch(above)
            blocks.append(
                Block(
                    line=index + 1,
                    language=line[3:].strip(),
                    marker=marker.group("what") if marker else "",
                    text="\n".join(lines[index + 1 : end]),
                )
            )
            index = end
        index += 1
    return blocks
