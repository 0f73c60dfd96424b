"""The cutover of a context's writes: freeze, fence, drain, verify, prepare, flip, unfreeze.

Each step is idempotent and recorded in the control database (CutoverRun) before and after it
runs, so a run that crashed at any step is resumed by running the same command again. A step
that fails before the flip aborts the run: writes are unfrozen and the writer is unchanged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError
from django.utils import timezone

from strangler.cutover.conf import cutover_settings
from strangler.cutover.selectors import VersionMap, context_specs, versions_behind
from strangler.cutover.sides import HttpSide, LocalSide, Side
from strangler.observability import tracing
from strangler.ownership import services as ownership
from strangler.ownership.conf import ContextSpec, ownership_settings, this_side
from strangler.ownership.models import CutoverRun
from strangler.ownership.selectors import context_state, unfinished_cutover
from strangler.sync.conf import sync_settings
from strangler.sync.internal_api import InternalClient, PeerError
from strangler.sync.reconcile import ReconcileError, reconcile_aggregate

logger = logging.getLogger(__name__)

STEPS = ("plan", "freeze", "fence", "drain", "verify", "prepare", "flip", "unfreeze")
STEP_HELP = {
    "plan": "record the run; check that both sides answer",
    "freeze": "freeze the context's writes on every side (clients get 503 + Retry-After)",
    "fence": "wait out the ownership cache, then for write transactions already in flight",
    "drain": "wait until the old writer's outbox is empty and the new writer applied every event",
    "verify": "reconcile both stores: equal row counts and content checksums",
    "prepare": "new writer: continue version counters, advance id sequences past all ids",
    "flip": "make the new side the writer (epoch + 1)",
    "unfreeze": "open writes again, now on the new writer",
}
# Tests (and drills) make the process die right after a step is recorded: STEP name.
CRASH_ENV = "STRANGLER_CUTOVER_CRASH_AT"
CRASH_EXIT_CODE = 70


class CutoverError(RuntimeError):
    """The cutover cannot start or go on; the message says what to do."""


class CutoverAborted(CutoverError):
    """A step failed before the flip: the run is aborted, writes unfrozen, the writer unchanged."""


@dataclass
class CutoverResult:
    """What a run did; `frozen_seconds` is how long writes were refused with 503."""

    context: str
    source: str
    target: str
    run_id: int | None
    state: str
    seconds: float = 0.0
    frozen_seconds: float | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "source": self.source,
            "target": self.target,
            "run_id": self.run_id,
            "state": self.state,
            "seconds": round(self.seconds, 3),
            "frozen_seconds": None
            if self.frozen_seconds is None
            else round(self.frozen_seconds, 3),
            "steps": self.steps,
        }


def open_side(name: str, context: str, *, peer_url: str | None = None) -> Side:
    """The side called `name`: local if this process runs as it, else over HTTP."""
    if name == this_side():
        return LocalSide(name)
    url = peer_url or sync_settings().peers.get(context)
    if not url:
        raise CutoverError(
            f"{name} is the other side of {context} and its URL is unknown; pass --peer URL or "
            f"set STRANGLER_SYNC['PEERS'][{context!r}]."
        )
    configured_by = "--peer" if peer_url else None
    return HttpSide(
        name, InternalClient.from_settings(url, context=context, configured_by=configured_by)
    )


class Cutover:
    """One cutover of `context` to `target` (a side's name), run from either side."""

    def __init__(
        self,
        context: str,
        target: str,
        *,
        peer_url: str | None = None,
        drain_timeout: float | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.spec: ContextSpec = ownership_settings().context(context)
        self.context = context
        self.target = self.spec.side(target)
        if this_side() not in self.spec.sides:
            raise CutoverError(
                f"this process runs as {this_side()!r}, which is not a side of {context} "
                f"({' or '.join(self.spec.sides)}); run the command on one of them."
            )
        self.source = next(side for side in self.spec.sides if side != self.target)
        self.peer_url = peer_url
        self.conf = cutover_settings()
        self.drain_timeout = drain_timeout or self.conf.drain_timeout
        self.echo = echo
        self.run: CutoverRun | None = None
        context_specs(context)  # fail now, not mid-run, when STRANGLER_SYNC lacks the context
        self._sides: dict[str, Side] = {}

    # -- sides ----------------------------------------------------------------------------------

    def side(self, name: str) -> Side:
        if name not in self._sides:
            self._sides[name] = open_side(name, self.context, peer_url=self.peer_url)
        return self._sides[name]

    @property
    def old(self) -> Side:
        return self.side(self.source)

    @property
    def new(self) -> Side:
        return self.side(self.target)

    def close(self) -> None:
        for side in self._sides.values():
            side.close()

    # -- entry points ---------------------------------------------------------------------------

    def plan(self) -> list[str]:
        """What running the command now would do, as lines; changes nothing."""
        state = context_state(self.context, max_age=0)
        pending = unfinished_cutover(self.context)
        frozen = f" (frozen: {state.frozen_reason})" if state.frozen else ""
        lines = [f"context {self.context}: writer {state.writer}{frozen}, epoch {state.epoch}"]
        if pending is not None and pending.target != self.target:
            lines.append(
                f"an unfinished cutover to {pending.target} (run {pending.id}) must be finished "
                f"or aborted first"
            )
            return lines
        if pending is None and state.writer == self.target:
            lines.append(f"{self.target} already writes {self.context}: nothing to do")
            return lines
        done = STEPS.index(pending.step) + 1 if pending is not None and pending.step else 0
        if pending is not None:
            lines.append(f"resume run {pending.id} after step {pending.step or '(none)'}")
        lines.append(f"move the writes of {self.context} from {self.source} to {self.target}:")
        for number, step in enumerate(STEPS, start=1):
            mark = "done" if number <= done else "todo"
            lines.append(f"  {number}. {step:<9} [{mark}] {STEP_HELP[step]}")
        for name in (self.source, self.target):
            try:
                found = self.side(name).state(self.context)
                lines.append(
                    f"{name}: outbox pending {found.outbox_pending}, rows {found.counts}, "
                    f"highest ids { ({k: found.highest_id(k) for k in found.counts}) }"
                )
            except (PeerError, CutoverError) as exc:
                lines.append(f"{name}: cannot be asked: {exc}")
        return lines

    def execute(self) -> CutoverResult:
        """Run (or resume) the cutover to its end; CutoverAborted / CutoverError when it cannot."""
        started = time.monotonic()
        state = context_state(self.context, max_age=0)
        run = unfinished_cutover(self.context)
        if run is not None and run.target != self.target:
            raise CutoverError(
                f"an unfinished cutover of {self.context} to {run.target} (run {run.id}, last "
                f"step {run.step or 'none'}) exists; finish it with `cutover {self.context} --to "
                f"{run.target}` or abandon it with `cutover {self.context} --abort`."
            )
        if run is None:
            if state.writer == self.target:
                self.echo(f"{self.target} already writes {self.context}: nothing to do.")
                return CutoverResult(self.context, state.writer, self.target, None, "noop")
            try:
                run = CutoverRun.objects.create(
                    context=self.context,
                    source=self.source,
                    target=self.target,
                    started_at=timezone.now(),
                )
            except IntegrityError as exc:
                raise CutoverError(
                    f"another cutover of {self.context} started at the same moment; run the "
                    "command again to resume it."
                ) from exc
            self.echo(f"cutover run {run.id}: {self.context} from {self.source} to {self.target}")
        else:
            self.echo(
                f"resuming cutover run {run.id}: {self.context} from {run.source} to {run.target}, "
                f"after step {run.step or '(none)'}"
            )
        self.run = run
        done = STEPS.index(run.step) + 1 if run.step else 0
        for step in STEPS[done:]:
            self._run_step(step)
        run.state = CutoverRun.State.COMPLETED
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "finished_at"])
        result = CutoverResult(
            self.context,
            run.source,
            run.target,
            run.id,
            run.state,
            seconds=time.monotonic() - started,
            frozen_seconds=frozen_seconds(run),
            steps=list(run.log),
        )
        frozen = f"{result.frozen_seconds:.2f}s" if result.frozen_seconds is not None else "?"
        self.echo(
            f"done: {run.target} writes {self.context}; this command took {result.seconds:.2f}s, "
            f"writes were frozen for {frozen}."
        )
        return result

    def abort_unfinished(self) -> CutoverRun | None:
        """Abandon the unfinished run of the context (only before its flip): unfreeze writes."""
        run = unfinished_cutover(self.context)
        if run is None:
            return None
        if run.step in ("flip", "unfreeze"):
            raise CutoverError(
                f"run {run.id} already made {run.target} the writer; finish it with `cutover "
                f"{self.context} --to {run.target}` (or cut over back to {run.source})."
            )
        self.run = run
        self._abort("abandoned by the operator (--abort)")
        return run

    # -- steps ----------------------------------------------------------------------------------

    def _record(self, step: str, event: str, detail: Any = None) -> None:
        assert self.run is not None
        entry = {"step": step, "event": event, "at": timezone.now().isoformat()}
        if detail is not None:
            entry["detail"] = detail
        self.run.log = [*self.run.log, entry]
        fields = ["log"]
        if event == "done":
            self.run.step = step
            fields.append("step")
        self.run.save(update_fields=fields)

    def _run_step(self, step: str) -> None:
        number = STEPS.index(step) + 1
        self.echo(f"[{number}/{len(STEPS)}] {step}: {STEP_HELP[step]} ...")
        self._record(step, "started")
        began = time.monotonic()
        try:
            with tracing.span(
                f"strangler.cutover.{step}",
                attributes={"strangler.context": self.context, "strangler.cutover.step": step},
            ):
                detail = getattr(self, f"_step_{step}")()
        except Exception as exc:
            self._record(step, "failed", str(exc))
            self._fail(step, exc)
            raise  # _fail raises; this keeps type checkers informed
        seconds = round(time.monotonic() - began, 3)
        self._record(step, "done", {"seconds": seconds, **(detail or {})})
        summary = ", ".join(f"{k}={v}" for k, v in (detail or {}).items())
        summary = f"; {summary}" if summary else ""
        self.echo(f"[{number}/{len(STEPS)}] {step}: done in {seconds:.2f}s{summary}")
        if os.environ.get(CRASH_ENV) == step:
            self.echo(f"{CRASH_ENV}={step}: exiting hard, as asked")
            os._exit(CRASH_EXIT_CODE)

    def _fail(self, step: str, exc: BaseException) -> None:
        if STEPS.index(step) < STEPS.index("flip") or (
            step == "flip" and context_state(self.context, max_age=0).writer == self.source
        ):
            self._abort(f"{step} failed: {exc}")
            raise CutoverAborted(
                f"cutover of {self.context} aborted at step {step}: {exc}\n"
                f"writes are unfrozen and {self.source} still writes {self.context}."
            ) from exc
        raise CutoverError(
            f"step {step} failed after the flip: {exc}\n{self.target} already writes "
            f"{self.context}; run the same command again to finish (writes may still be frozen)."
        ) from exc

    def _abort(self, reason: str) -> None:
        assert self.run is not None
        ownership.unfreeze_writes(self.context)
        self.run.state = CutoverRun.State.ABORTED
        self.run.error = reason
        self.run.finished_at = timezone.now()
        self.run.save(update_fields=["state", "error", "finished_at"])
        logger.warning("cutover run %s of %s aborted: %s", self.run.id, self.context, reason)
        self.echo(f"aborted: {reason}; writes unfrozen, {self.source} still writes.")

    def _step_plan(self) -> dict[str, Any]:
        old, new = self.old.state(self.context), self.new.state(self.context)
        return {"rows": {self.source: old.counts, self.target: new.counts}}

    def _step_freeze(self) -> dict[str, Any]:
        assert self.run is not None
        state = ownership.freeze_writes(
            self.context, reason=f"cutover run {self.run.id} to {self.target}"
        )
        return {"frozen_at": state.frozen_at.isoformat() if state.frozen_at else None}

    def _step_fence(self) -> dict[str, Any]:
        # Processes may act on an ownership state up to CACHE_TTL old: wait that out, so every
        # write that starts from now on sees the freeze, then for those already in flight.
        state = context_state(self.context, max_age=0)
        ttl = ownership_settings().cache_ttl
        since = (timezone.now() - state.frozen_at).total_seconds() if state.frozen_at else 0.0
        wait = max(0.0, ttl + 0.1 - since)
        if wait:
            time.sleep(wait)  # a fixed deadline derived from the cache TTL, not a poll
        fenced_by = self.old.fence(self.context, self.conf.fence_timeout)
        return {"cache_wait_seconds": round(wait, 3), "fenced_by": fenced_by}

    def _step_drain(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.drain_timeout
        next_report = 0.0
        while True:
            pending = self.old.state(self.context).outbox_pending
            if pending == 0:
                break
            next_report = self._progress(next_report, f"{self.source} outbox: {pending} pending")
            self._check_deadline(deadline, f"{pending} events still in {self.source}'s outbox")
            time.sleep(self.conf.poll_interval)
        issued = self.old.issued_versions(self.context)
        behind = versions_behind(issued, self.new.applied_versions(self.context))
        while _count(behind):
            next_report = self._progress(
                next_report, f"{self.target} inbox: {_count(behind)} aggregates behind"
            )
            self._check_deadline(
                deadline,
                f"{self.target} has not applied the last event of {_count(behind)} aggregates "
                f"(e.g. {_sample(behind)}); is its consumer running? any dead letters?",
            )
            time.sleep(self.conf.poll_interval)
            # Ask for the laggards only; while many lag, reading everything is cheaper.
            wanted = None if _count(behind) > 5000 else {k: list(v) for k, v in behind.items()}
            applied = self.new.applied_versions(self.context, wanted)
            behind = versions_behind(behind, applied)
        return {"aggregates": {label: len(found) for label, found in issued.items()}}

    def _progress(self, next_report: float, message: str) -> float:
        now = time.monotonic()
        if now >= next_report:
            self.echo(f"    drain: {message}")
            return now + 1.0
        return next_report

    def _check_deadline(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise CutoverError(f"drain timed out after {self.drain_timeout}s: {what}")

    def _step_verify(self) -> dict[str, Any]:
        conf = sync_settings()
        source, target = self.old.sync_peer(), self.new.sync_peer()
        found: dict[str, Any] = {}
        try:
            for spec in context_specs(self.context):
                report = reconcile_aggregate(
                    spec,
                    source=source,
                    target=target,
                    fanout=conf.reconcile_fanout,
                    leaf_rows=conf.reconcile_leaf_rows,
                )
                found[spec.label] = {
                    "rows": report.source_count,
                    "drift": report.drift,
                    "seconds": round(report.seconds, 3),
                }
                if report.drift or report.source_count != report.target_count:
                    raise CutoverError(
                        f"{spec.label} differs: {self.source} {report.source_count} rows, "
                        f"{self.target} {report.target_count}; missing on {self.target} "
                        f"{report.missing[:10]}, extra {report.extra[:10]}, different "
                        f"{[d.id for d in report.different[:10]]}. Repair with `reconcile "
                        f"{self.context} --repair` on {self.source}, then run the cutover again."
                    )
        except ReconcileError as exc:
            raise CutoverError(f"the stores cannot be compared: {exc}") from exc
        finally:
            source.close()
            target.close()
        return {"reconciled": found}

    def _step_prepare(self) -> dict[str, Any]:
        old, new = self.old.state(self.context), self.new.state(self.context)
        floors = {label: max(old.highest_id(label), new.highest_id(label)) for label in old.counts}
        prepared = self.new.prepare_writer(self.context, floors)
        return {"id_floors": floors, **prepared}

    def _step_flip(self) -> dict[str, Any]:
        state = ownership.set_writer(self.context, self.target)
        return {"writer": state.writer, "epoch": state.epoch}

    def _step_unfreeze(self) -> dict[str, Any]:
        state = ownership.unfreeze_writes(self.context)
        return {"writer": state.writer, "epoch": state.epoch}


def _count(versions: VersionMap) -> int:
    return sum(len(found) for found in versions.values())


def _sample(versions: VersionMap) -> str:
    for label, found in versions.items():
        for key, version in found.items():
            return f"{label} {key} v{version}"
    return "-"


def frozen_seconds(run: CutoverRun) -> float | None:
    """Seconds between the freeze and the unfreeze of a run, from its log."""
    frozen = _done_at(run, "freeze")
    unfrozen = _done_at(run, "unfreeze")
    if frozen is None or unfrozen is None:
        return None
    return (unfrozen - frozen).total_seconds()


def _done_at(run: CutoverRun, step: str) -> datetime | None:
    for entry in run.log:
        if entry.get("step") == step and entry.get("event") == "done":
            return datetime.fromisoformat(entry["at"])
    return None
