"""The writers of routed contexts, read from the control database off the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from strangler.gateway.routing import MONOLITH, ContextOwner, RoutingConfigError, RoutingTable

if TYPE_CHECKING:
    from strangler.gateway.metrics import GatewayMetrics

logger = logging.getLogger(__name__)

# A read of the control database that has not come back after this long is reported (the last
# known writers stay in force meanwhile; the read itself is not abandoned).
SLOW_READ_SECONDS = 5.0


class OwnershipReadError(Exception):
    """The control database could not be read; the message says why."""


class OwnershipReader(Protocol):
    """Where the watcher gets a context's state. `read` runs in the watcher's own thread."""

    def read(self, context: str) -> ContextOwner:
        """The context's state now; OwnershipReadError when the source cannot be read."""

    def default(self, context: str) -> ContextOwner:
        """The configured default writer; RoutingConfigError for a context nobody configured."""

    def close(self) -> None:
        """Release what `read` holds (called in the same thread as `read`)."""


class ControlDatabaseReader:
    """strangler.ownership's control database, through `context_state(context, max_age=0)`."""

    def read(self, context: str) -> ContextOwner:
        from django.db import Error, connections

        from strangler.ownership.conf import ownership_settings
        from strangler.ownership.selectors import context_state

        conf = ownership_settings()
        spec = conf.context(context)
        try:
            state = context_state(context, max_age=0)
        except Error as exc:  # DatabaseError, and InterfaceError for a connection already closed
            # A broken connection stays broken: drop it so the next pass connects afresh (closing
            # a dead connection may fail too; the read error above is what gets reported).
            with contextlib.suppress(Error):
                connections[conf.database].close()
            raise OwnershipReadError(f"control database {conf.database!r}: {exc}") from exc
        return ContextOwner(
            context=context,
            writer=state.writer,
            service=spec.service,
            frozen=state.frozen,
            frozen_reason=state.frozen_reason,
            epoch=state.epoch,
            retry_after=conf.retry_after,
            read=True,
        )

    def default(self, context: str) -> ContextOwner:
        from strangler.ownership.conf import OwnershipConfigurationError, ownership_settings

        try:
            conf = ownership_settings()
            spec = conf.context(context)
        except OwnershipConfigurationError as exc:
            raise RoutingConfigError(f"route context {context!r}: {exc}") from exc
        return ContextOwner(
            context=context,
            writer=spec.default_writer,
            service=spec.service,
            retry_after=conf.retry_after,
            read=False,
        )

    def close(self) -> None:
        from django.db import connections

        from strangler.ownership.conf import ownership_settings

        connections[ownership_settings().database].close()


class OwnershipWatcher:
    """Keeps the last known writer of every routed context in memory for the hot path.

    `refresh` reads every tracked context in one worker thread (one control-database connection,
    reused); `run` repeats it every `interval` seconds. A failed read keeps the last known state
    and logs a warning; a context never read successfully uses its configured default writer,
    with a warning saying so.
    """

    def __init__(
        self,
        reader: OwnershipReader | None,
        *,
        interval: float,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.reader = reader
        self.interval = interval
        self.metrics = metrics
        self._states: dict[str, ContextOwner] = {}
        self._contexts: tuple[str, ...] = ()
        self._failing: set[str] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._inflight: asyncio.Future[dict[str, ContextOwner | OwnershipReadError]] | None = None
        self._inflight_since = 0.0
        # When the pass that last read each context began (monotonic), and who waits for a pass.
        self._read_since: dict[str, float] = {}
        self._waiters: list[asyncio.Future[None]] = []

    # -- the hot path --------------------------------------------------------------------------
    def get(self, context: str) -> ContextOwner | None:
        """The last known state of a tracked context (a dict lookup, nothing else)."""
        return self._states.get(context)

    def open_since(self, context: str, since: float) -> ContextOwner | None:
        """The context's state if a read that began at or after `since` (monotonic) found its
        writes open; None while it is frozen, not read since then, or not tracked."""
        state = self._states.get(context)
        if state is None or state.frozen or self._read_since.get(context, -math.inf) < since:
            return None
        return state

    async def wait_until_open(
        self, context: str, *, since: float, deadline: float
    ) -> ContextOwner | None:
        """Wait (for passes of `run`) until `open_since(context, since)` has a state, which it
        returns; None once `deadline` (monotonic) passes first."""
        loop = asyncio.get_running_loop()
        while True:
            state = self.open_since(context, since)
            if state is not None:
                return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                return None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    # -- the routing table ---------------------------------------------------------------------
    def check(self, table: RoutingTable) -> None:
        """RoutingConfigError unless every context the table routes is configured."""
        contexts = table.contexts
        if not contexts:
            return
        if self.reader is None:
            raise RoutingConfigError(
                f"{table.source}: routes name contexts ({', '.join(sorted(contexts))}) but this "
                "gateway has no ownership reader; build it with build_gateway()"
            )
        for context in contexts:
            self.reader.default(context)

    @property
    def tracked(self) -> frozenset[str]:
        """The contexts refreshed now."""
        return frozenset(self._contexts)

    def track(self, contexts: Iterable[str]) -> None:
        """Refresh these contexts from now on (call `check` first)."""
        self._contexts = tuple(sorted(contexts))
        for context in list(self._states):
            if context not in self._contexts:
                del self._states[context]
                self._read_since.pop(context, None)

    # -- refreshing ----------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Read every tracked context once, in the watcher's thread; never raises for a read."""
        contexts = self._contexts
        if not contexts or self.reader is None:
            return
        if self._inflight is None:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="gateway-ownership")
            loop = asyncio.get_running_loop()
            self._inflight = loop.run_in_executor(self._executor, self._read_all, contexts)
            self._inflight_since = time.monotonic()
        started = self._inflight_since  # the pass awaited here, whoever began it
        waited = time.monotonic() - started
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that
            # comes as the read completes, and `run` then never ends (the gateway's stop hung).
            async with asyncio.timeout(max(SLOW_READ_SECONDS - waited, 0.01)):
                results = await asyncio.shield(self._inflight)
        except TimeoutError:
            waited = time.monotonic() - self._inflight_since
            self._unread(contexts, f"no answer for {waited:.1f}s")
            return
        self._inflight = None
        for context, result in results.items():
            if context not in self._contexts:
                continue  # the table stopped routing it while it was read
            if isinstance(result, OwnershipReadError):
                self._unread([context], str(result))
            else:
                self._store(result)
                self._read_since[context] = started
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def run(self) -> None:
        """Refresh every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()

    async def close(self) -> None:
        """Release the control-database connection and the thread."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if self._inflight is None and self.reader is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self.reader.close)
        executor.shutdown(wait=False)
        self._inflight = None

    def _read_all(self, contexts: tuple[str, ...]) -> dict[str, ContextOwner | OwnershipReadError]:
        assert self.reader is not None
        results: dict[str, ContextOwner | OwnershipReadError] = {}
        for context in contexts:
            try:
                results[context] = self.reader.read(context)
            except OwnershipReadError as exc:
                results[context] = exc
        return results

    def _store(self, state: ContextOwner) -> None:
        previous = self._states.get(state.context)
        self._states[state.context] = state
        if state.read and state.context in self._failing:
            self._failing.discard(state.context)
            logger.info("ownership of %s readable again", state.context)
        if previous is None or (
            previous.writer,
            previous.frozen,
            previous.epoch,
            previous.read,
        ) != (
            state.writer,
            state.frozen,
            state.epoch,
            state.read,
        ):
            logger.info(
                "writer of %s: %s, writes %s (epoch %s)",
                state.context,
                state.writer,
                "frozen" if state.frozen else "open",
                state.epoch,
                extra={"context": state.context, "writer": state.writer, "epoch": state.epoch},
            )
        if self.metrics is not None:
            for side in {MONOLITH, state.service, state.writer}:
                self.metrics.context_writer.labels(state.context, side).set(
                    int(side == state.writer)
                )
            self.metrics.context_frozen.labels(state.context).set(int(state.frozen))
            if state.read:
                self.metrics.ownership_read.labels(state.context).set(time.time())

    def _unread(self, contexts: Iterable[str], error: str) -> None:
        for context in contexts:
            if self.metrics is not None:
                self.metrics.ownership_errors.labels(context).inc()
            known = self._states.get(context)
            first = context not in self._failing
            self._failing.add(context)
            if known is None:
                assert self.reader is not None
                fallback = self.reader.default(context)
                logger.warning(
                    "cannot read the writer of %s (%s); until the control database answers, "
                    "writes go to its configured default writer %s",
                    context,
                    error,
                    fallback.writer,
                )
                self._store(fallback)
            elif first:
                logger.warning(
                    "cannot read the writer of %s (%s); keeping the last known writer %s "
                    "(writes %s, epoch %s) until the control database answers",
                    context,
                    error,
                    known.writer,
                    "frozen" if known.frozen else "open",
                    known.epoch,
                )

    def status(self) -> dict[str, Any]:
        """Per tracked context: the state in force and whether its last read failed."""
        return {
            context: {
                "writer": state.writer,
                "frozen": state.frozen,
                "epoch": state.epoch,
                "read": state.read,
                "failing": context in self._failing,
            }
            for context, state in self._states.items()
        }
