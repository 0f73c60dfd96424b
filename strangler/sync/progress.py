"""A progress line for long commands: done / total, rate, time left; throttled redraws."""

from __future__ import annotations

import time
from typing import TextIO


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
    """Writes `label  done/total  pct  rate/s  left` to a stream (stderr), at most every interval.

    On a terminal the line is redrawn in place; otherwise (logs, CI) a new line is written every
    few seconds so the log stays short.
    """

    def __init__(
        self,
        stream: TextIO | None,
        label: str,
        total: int | None,
        unit: str = "rows",
        initial: int = 0,
    ) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.unit = unit
        self.done = initial
        self._initial = initial  # done before this session: not part of its rate
        self.started = time.monotonic()
        self._tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._interval = 0.2 if self._tty else 5.0
        self._last_draw = 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.done - self._initial) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
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
        now = time.monotonic()
        if now - self._last_draw >= self._interval:
            self._last_draw = now
            self._draw()

    def _draw(self, final: bool = False) -> None:
        if self.stream is None:
            return
        if self._tty:
            self.stream.write("\r\x1b[K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self._draw(final=True)
