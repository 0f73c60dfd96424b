"""Render a seams report (a text table, JSON, a Mermaid or Graphviz diagram, PNG/SVG via `dot`)
and a bypass report (a text table, JSON)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter

from strangler.seams.analysis import EDGE_KINDS, SeamsReport
from strangler.seams.bypass import BypassReport

KIND_LABELS = {
    "foreign_key": "FK",
    "one_to_one": "1:1",
    "many_to_many": "M2M",
    "orm": "ORM",
    "signal": "signal",
    "import": "import",
}
# Graphviz colours per dominant edge kind: relations red, behaviour orange, imports grey.
KIND_COLOURS = {
    "foreign_key": "firebrick",
    "one_to_one": "firebrick",
    "many_to_many": "firebrick",
    "orm": "darkorange",
    "signal": "darkorange",
    "import": "gray40",
}


class RenderError(Exception):
    """A format cannot be produced here (Graphviz missing, `dot` failed)."""


def _kinds_text(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[k]} {KIND_LABELS[k]}" for k in EDGE_KINDS if counts.get(k))


def render_table(report: SeamsReport) -> str:
    """Contexts in extraction order with score and reason, then every edge with file and line."""
    lines = ["Contexts, least coupled first", ""]
    header = ("#", "context", "score", "inbound", "outbound")
    rows = [
        (
            str(c.order),
            c.app,
            str(c.score),
            _kinds_text(Counter(c.inbound)) or "-",
            _kinds_text(Counter(c.outbound)) or "-",
        )
        for c in report.contexts
    ]
    lines.extend(_table(header, rows))
    lines.append("")
    lines.append("Suggested extraction order")
    for context in report.contexts:
        lines.append(f"  {context.order}. {context.app}: {context.reason}")
    lines.append("")
    lines.append(f"Edges ({len(report.edges)})")
    edge_rows = [
        (f"{e.source} -> {e.target}", KIND_LABELS[e.kind], f"{e.file}:{e.line}", e.detail)
        for e in report.edges
    ]
    lines.extend(_table(("edge", "kind", "where", "what"), edge_rows))
    weights = ", ".join(f"{KIND_LABELS[k]}={report.weights[k]}" for k in EDGE_KINDS)
    lines.append("")
    lines.append(f"score = sum over inbound and outbound edges of weight[kind]; weights: {weights}")
    return "\n".join(lines) + "\n"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

    return [
        line(header).rstrip(),
        "  ".join("-" * w for w in widths),
        *(line(r).rstrip() for r in rows),
    ]


def render_json(report: SeamsReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def render_mermaid(report: SeamsReport) -> str:
    """A Mermaid flowchart: one node per context (with its score), one arrow per coupled pair."""
    lines = ["flowchart LR"]
    for context in report.contexts:
        lines.append(
            f'    {context.app}["{context.order}. {context.app}<br/>score {context.score}"]'
        )
    for (source, target), counts in sorted(report.pairs().items()):
        lines.append(f'    {source} -->|"{_kinds_text(counts)}"| {target}')
    return "\n".join(lines) + "\n"


def render_dot(report: SeamsReport) -> str:
    """A Graphviz digraph: arrows point from the dependent context to the one it depends on."""
    lines = [
        "digraph seams {",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for context in report.contexts:
        label = f"{context.order}. {context.app}\\nscore {context.score}"
        lines.append(f'    "{context.app}" [label="{label}"];')
    for (source, target), counts in sorted(report.pairs().items()):
        dominant = next(k for k in EDGE_KINDS if counts.get(k))
        colour = KIND_COLOURS[dominant]
        width = 1 + sum(counts.values()) // 3
        lines.append(
            f'    "{source}" -> "{target}" [label="{_kinds_text(counts)}", '
            f"color={colour}, penwidth={width}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_image(dot_source: str, image_format: str) -> bytes:
    """PNG or SVG bytes from dot source, with the Graphviz `dot` program."""
    dot = shutil.which("dot")
    if dot is None:
        raise RenderError(
            f"--format {image_format} needs Graphviz's `dot` program; install it "
            "(apt-get install graphviz) or use --format dot / mermaid."
        )
    result = subprocess.run(
        [dot, f"-T{image_format}"], input=dot_source.encode(), capture_output=True, timeout=60
    )
    if result.returncode != 0:
        raise RenderError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def render_bypass_table(report: BypassReport) -> str:
    """Every write that bypasses the outbox, by file and line, then what was read and left out."""
    count = len(report.bypasses)
    lines = [f"Writes that bypass the outbox ({count})"]
    if report.bypasses:
        lines.append("")
        rows = [(f"{b.file}:{b.line}", b.kind, b.model, b.detail) for b in report.bypasses]
        lines.extend(_table(("where", "kind", "model", "what"), rows))
        kinds = Counter(b.kind for b in report.bypasses)
        lines.append("")
        lines.append("by kind: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    lines.append("")
    lines.append(
        f"Read {report.files} file(s); tracked models: {', '.join(report.tracked) or 'none'}."
    )
    if report.skipped:
        lines.append(f"Inbox handlers left out: {', '.join(report.skipped)}.")
    return "\n".join(lines) + "\n"


def render_bypass_json(report: BypassReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"
