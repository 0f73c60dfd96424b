"""The kit's one progress API for long commands (backfill, replay, the copy phase), drawn by rich.

On a terminal, a rich progress bar redrawn in place (done/total, percent, rate, time left); in a
log or CI (not a terminal), one plain line every few seconds so the log stays short.
"""

from __future__ import annotations

import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

_LOG_INTERVAL = 5.0


def format_duration(seconds: float) -> str:
    """`1:02:03`, `2:03` or `3s`."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    if minutes:
        return f"{minutes}:{secs:02d}"
    return f"{secs}s"


class Progress:
    """Progress of `label` towards `total` (None while unknown; settable), written to `stream`.

    `initial` is what a resumed run had done before: counted in done/total, not in the rate.
    """

    def __init__(
        self,
        stream: TextIO | None,
        label: str,
        total: int | None,
        unit: str = "rows",
        initial: int = 0,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = initial
        self._initial = initial
        self.started = time.monotonic()
        self._console = Console(file=stream, highlight=False) if stream is not None else None
        self._last_line = 0.0
        self._bar: RichProgress | None = None
        if self._console is not None and self._console.is_terminal:
            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(unit),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._task = self._bar.add_task(label, total=total, completed=initial, rate="")
            self._bar.start()

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.done - self._initial) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """`label  done/total unit  pct  rate/s  time left`, as written to a log."""
        rate = self.rate
        parts = [self.label]
        if self.total:
            parts.append(f"{self.done:,}/{self.total:,} {self.unit}")
            parts.append(f"{min(100.0, 100.0 * self.done / self.total):5.1f}%")
        else:
            parts.append(f"{self.done:,} {self.unit}")
        parts.append(f"{rate:,.0f}/s")
        if self.total and rate > 0:
            parts.append(f"{format_duration(max(0, self.total - self.done) / rate)} left")
        return "  ".join(parts)

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(
                self._task, completed=self.done, total=self.total, rate=f"{self.rate:,.0f}/s"
            )
            return
        now = time.monotonic()
        if now - self._last_line >= _LOG_INTERVAL:
            self._last_line = now
            self._write_line()

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.update(
                self._task, completed=self.done, total=self.total, rate=f"{self.rate:,.0f}/s"
            )
            self._bar.stop()
            return
        self._write_line()

    def _write_line(self) -> None:
        if self._console is not None:
            self._console.print(self.line(), markup=False, soft_wrap=True)
