"""The copy phase: fill a projection from the writer in bulk, chunk by chunk, then catch up.

Run on the reading side. Each chunk is read by the writer in one snapshot (copy_source) and
merged here with its checkpoint (copy_target); the next chunk is fetched while the current one
merges. Between chunks the loop keeps to a row rate and waits while the writer is loaded (outbox
backlog or a slow probe). After the last chunk the event stream catches up: the writer's relay
publishes everything up to the last snapshot's high-water mark, the inbox applies it, and
reconcile proves both sides equal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from strangler.sync.conf import AggregateSpec
from strangler.sync.copy_source import CopyChunk
from strangler.sync.copy_target import CopyError, finish_copy_run, merge_chunk
from strangler.sync.internal_api import PeerUnreachable
from strangler.sync.models import CopyRun
from strangler.sync.peers import CopySource

logger = logging.getLogger(__name__)

FETCH_ATTEMPTS = 5  # a writer restarting is waited for, with backoff, this many times
MAX_BACKOFF = 10.0


@dataclass(frozen=True)
class Throttle:
    """How fast the copy may go: rows per second (None: unbounded) and the writer's load bounds."""

    rows_per_second: float | None = None
    max_writer_backlog: int = 20_000
    max_writer_latency: float = 2.0
    patience: float = 3600.0  # seconds to wait for a loaded writer before giving up


@dataclass(frozen=True)
class ChunkDone:
    """What the on_chunk callback is told after each chunk is merged and checkpointed."""

    aggregate: str
    run_id: int
    chunk: int  # chunks merged by this run so far (earlier sessions included)
    last_key: int | None
    rows: int  # rows in this chunk
    rows_done: int  # rows written by the run so far
    rows_total: int
    high_water: int


@dataclass(frozen=True)
class CopyResult:
    """The outcome of one copy session of one aggregate."""

    aggregate: str
    run_id: int
    rows: int  # rows read by this session
    written: int
    skipped: int
    rows_total: int
    chunks: int
    last_key: int | None
    high_water: int | None
    seconds: float
    waited_seconds: float
    resumed: bool
    finished: bool

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "aggregate": self.aggregate,
            "run_id": self.run_id,
            "rows": self.rows,
            "written": self.written,
            "skipped": self.skipped,
            "rows_total": self.rows_total,
            "chunks": self.chunks,
            "last_key": self.last_key,
            "high_water": self.high_water,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rate, 1),
            "waited_seconds": round(self.waited_seconds, 3),
            "resumed": self.resumed,
            "finished": self.finished,
        }


def wait_while_loaded(
    source: CopySource,
    throttle: Throttle,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[str], None] | None = None,
) -> float:
    """Probe the writer until it is below both bounds; returns the seconds waited.

    CopyError when it stays loaded longer than throttle.patience (the run stays resumable).
    """
    waited = 0.0
    backoff = 0.5
    while True:
        started = time.monotonic()
        load = source.writer_load(bound=throttle.max_writer_backlog)
        latency = time.monotonic() - started
        if load.outbox_pending > throttle.max_writer_backlog:
            reason = f"writer's outbox holds more than {throttle.max_writer_backlog:,} events"
        elif latency > throttle.max_writer_latency:
            reason = f"writer answered a probe in {latency:.2f}s"
        else:
            return waited
        if waited >= throttle.patience:
            raise CopyError(
                f"the writer stayed loaded for {waited:.0f}s ({reason}); continue later with "
                "--resume, or raise --max-writer-backlog / --max-writer-latency."
            )
        if on_wait is not None:
            on_wait(f"{reason}; waiting {backoff:.1f}s")
        sleep(backoff)
        waited += backoff
        backoff = min(MAX_BACKOFF, backoff * 2)


def _fetch(
    source: CopySource,
    spec: AggregateSpec,
    after: int | None,
    limit: int,
    throttle: Throttle,
    sleep: Callable[[float], None],
    on_wait: Callable[[str], None] | None,
) -> tuple[CopyChunk, float]:
    """The next chunk once the writer is not loaded; a writer that is restarting is retried."""
    waited = 0.0
    for attempt in range(1, FETCH_ATTEMPTS + 1):
        try:
            waited += wait_while_loaded(source, throttle, sleep=sleep, on_wait=on_wait)
            return source.copy_chunk(spec, after=after, limit=limit), waited
        except PeerUnreachable as exc:
            if attempt == FETCH_ATTEMPTS:
                raise CopyError(
                    f"{exc}; the copy stopped after key {after} and continues from there with "
                    "--resume."
                ) from exc
            pause = min(MAX_BACKOFF, 0.5 * 2**attempt)
            if on_wait is not None:
                on_wait(f"writer unreachable; retrying in {pause:.1f}s")
            sleep(pause)
            waited += pause
    raise AssertionError("unreachable")  # the loop returns or raises


def run_copy(
    spec: AggregateSpec,
    run: CopyRun,
    *,
    source: CopySource,
    chunk_rows: int,
    throttle: Throttle,
    resumed: bool = False,
    on_chunk: Callable[[ChunkDone], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    max_chunks: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CopyResult:
    """Copy every row after run.last_key into the projection, chunk by chunk.

    `on_chunk` is called after each chunk is committed with its checkpoint (a crash after it
    loses nothing); `max_chunks` stops early (the run stays resumable).
    """
    rate = throttle.rows_per_second
    if rate:
        chunk_rows = max(1, min(chunk_rows, int(rate)))
    started = time.monotonic()
    rows = written = skipped = chunks = 0
    waited = 0.0
    finished = False
    # Fetch the next chunk while this one merges, when the source may be asked from a thread.
    pool = ThreadPoolExecutor(max_workers=1) if source.concurrent else None

    def fetch(after: int | None) -> tuple[CopyChunk, float]:
        return _fetch(source, spec, after, chunk_rows, throttle, sleep, on_wait)

    try:
        pending: Future[tuple[CopyChunk, float]] | None = None
        after = run.last_key
        while max_chunks is None or chunks < max_chunks:
            chunk, chunk_waited = pending.result() if pending is not None else fetch(after)
            pending = None
            waited += chunk_waited
            if chunk.rows == 0:
                finished = True
                break
            if pool is not None and (max_chunks is None or chunks + 1 < max_chunks):
                pending = pool.submit(fetch, chunk.last_key)
            result = merge_chunk(spec, run, chunk)
            after = chunk.last_key
            chunks += 1
            rows += chunk.rows
            written += result.written
            skipped += result.skipped
            if on_chunk is not None:
                on_chunk(
                    ChunkDone(
                        aggregate=spec.label,
                        run_id=run.pk,
                        chunk=run.chunks,
                        last_key=run.last_key,
                        rows=chunk.rows,
                        rows_done=run.rows_done,
                        rows_total=run.rows_total,
                        high_water=chunk.high_water,
                    )
                )
            if rate:
                ahead = rows / rate - (time.monotonic() - started)
                if ahead > 0:
                    sleep(ahead)
                    waited += ahead
        if pending is not None:
            pending.cancel()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if finished:
        finish_copy_run(run)
    seconds = time.monotonic() - started
    logger.info(
        "copy of %s: %s rows read, %s written, %s skipped in %.1fs (run %s, last key %s)",
        spec.label,
        rows,
        written,
        skipped,
        seconds,
        run.pk,
        run.last_key,
    )
    return CopyResult(
        aggregate=spec.label,
        run_id=run.pk,
        rows=rows,
        written=written,
        skipped=skipped,
        rows_total=run.rows_total,
        chunks=chunks,
        last_key=run.last_key,
        high_water=run.high_water,
        seconds=seconds,
        waited_seconds=waited,
        resumed=resumed,
        finished=finished,
    )


def wait_for_stream(
    source: CopySource,
    high_water: int,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Until the writer has published every event up to `high_water`; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        load = source.writer_load(bound=0)
        if load.oldest_pending_id is None or load.oldest_pending_id > high_water:
            return True
        if time.monotonic() >= deadline:
            return False
        sleep(0.5)
