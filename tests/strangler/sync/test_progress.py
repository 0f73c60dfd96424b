"""The kit's progress API: a rich bar on a terminal, a plain line now and then in a log."""

from __future__ import annotations

import io

from strangler.sync.progress import Progress, format_duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_the_progress_is_a_plain_line_with_totals_and_rate() -> None:
    log = io.StringIO()
    progress = Progress(log, "catalog.product", None, initial=5)
    progress.total = 100
    progress.advance(10)  # the first line is written at once, later ones every few seconds
    progress.advance(85)
    progress.finish()
    first, last = log.getvalue().splitlines()
    assert first.startswith("catalog.product  15/100 rows   15.0%")
    assert last.startswith("catalog.product  100/100 rows  100.0%") and "/s" in last
    assert "\x1b" not in log.getvalue(), "no terminal codes in a log"


def test_on_a_terminal_rich_draws_a_bar_that_ends_complete() -> None:
    terminal = Terminal()
    progress = Progress(terminal, "catalog.product", 100)
    progress.advance(100)
    progress.finish()
    assert "100/100" in terminal.getvalue() and "━" in terminal.getvalue()


def test_without_a_stream_nothing_is_written() -> None:
    progress = Progress(None, "quiet", 3)
    progress.advance(3)
    progress.finish()
    assert progress.done == 3


def test_durations_read_like_a_clock() -> None:
    assert [format_duration(s) for s in (3, 123, 3723)] == ["3s", "2:03", "1:02:03"]
