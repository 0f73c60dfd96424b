"""The bypass guard: transactions that change tracked tables without recording their events."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import django.db
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models.signals import post_save

from strangler.outbox.metrics import BYPASSED_WRITES
from strangler.outbox.statements import (
    WRITE_KEYWORDS,
    TableWrite,
    TrackedTable,
    rolled_back_savepoint,
    statement_keyword,
    table_writes,
    write_targets,
)

logger = logging.getLogger(__name__)

MODES = ("off", "log", "refuse")


class OutboxBypassError(DatabaseError):
    """refuse mode: a transaction changed tracked rows without their events and was rolled back.

    A DatabaseError, because that is what Django's `atomic` rolls back on when a commit (or the
    release of a savepoint) fails: the refused transaction is undone by Django's own code path.
    """

    def __init__(self, bypasses: Sequence[Bypass]) -> None:
        listed = "; ".join(str(bypass) for bypass in bypasses)
        super().__init__(
            f"refused and rolled back: {listed}. Change these rows through the context's "
            "services (they call record_event in the same transaction), or wrap writes that must "
            "not publish in strangler.outbox.services.outbox_capture_suppressed()."
        )
        self.bypasses = tuple(bypasses)


@dataclass(frozen=True)
class Bypass:
    """A table a transaction changed without recording events for what it changed."""

    table: str
    aggregate_type: str
    rows: tuple[str, ...]  # primary keys changed and named, with no event of theirs
    unnamed: bool  # rows changed that no statement named, and no event of the type at all
    statements: tuple[str, ...]  # "UPDATE at path:line in function", in order

    def __str__(self) -> str:
        what = []
        if self.rows:
            shown = ", ".join(self.rows[:10]) + (", ..." if len(self.rows) > 10 else "")
            what.append(f"rows {shown}")
        if self.unnamed:
            what.append("rows the statements do not name")
        return (
            f"{self.table} ({self.aggregate_type}): {' and '.join(what)} changed with no "
            f"{self.aggregate_type} event recorded for them, by {'; '.join(self.statements)}"
        )


class BypassPolicy:
    """What a guard does with the bypasses it finds: report each, and refuse them or not."""

    refuse: bool = False
    watch: BypassWatch | None = None  # set while a watch guards connections with this policy

    def report(self, bypass: Bypass, *, refused: bool) -> None:
        raise NotImplementedError


class LogBypasses(BypassPolicy):
    """Production: count each bypass and log a warning; in refuse mode roll the transaction back."""

    def __init__(self, *, refuse: bool) -> None:
        self.refuse = refuse

    def report(self, bypass: Bypass, *, refused: bool) -> None:
        outcome = "refused" if refused else "logged"
        BYPASSED_WRITES.labels(bypass.table, bypass.aggregate_type, outcome).inc()
        logger.warning(
            "outbox bypass %s: %s",
            outcome,
            bypass,
            extra={
                "table": bypass.table,
                "aggregate_type": bypass.aggregate_type,
                "where": list(bypass.statements),
                "outcome": outcome,
            },
        )


class BypassRecorder(BypassPolicy):
    """Tests: keep every bypass; the pytest plugin fails a test that leaves any untaken."""

    def __init__(self) -> None:
        self.bypasses: list[Bypass] = []

    def report(self, bypass: Bypass, *, refused: bool) -> None:
        self.bypasses.append(bypass)

    def take(self) -> list[Bypass]:
        """The bypasses seen so far, forgotten here (a test that expects them takes them)."""
        if self.watch is not None:
            self.watch.settle()
        taken, self.bypasses = self.bypasses, []
        return taken


# --- where a write comes from ---------------------------------------------------------------

_DJANGO_DB = os.path.dirname(django.db.__file__) + os.sep
# This module and strangler/db.py (upsert_rows): the caller of interest is whoever called them.
_SKIPPED_FILES = frozenset(
    {__file__, os.path.join(os.path.dirname(os.path.dirname(__file__)), "db.py")}
)
_FLUSH = "flush"


def _caller(frame: FrameType | None) -> str:
    """`path:line in function` of the innermost frame outside Django's db layer and the kit's
    SQL helpers; `_FLUSH` when Django's flush (manage.py flush, test teardown) runs it."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_DJANGO_DB):
            if code.co_name == "execute_sql_flush":
                return _FLUSH
        elif code.co_filename not in _SKIPPED_FILES and "contextlib" not in code.co_filename:
            path = code.co_filename
            with suppress(ValueError):  # on another drive (Windows) it stays absolute
                relative = os.path.relpath(path)
                path = path if relative.startswith("..") else relative
            return f"{path}:{frame.f_lineno} in {code.co_name}"
        frame = frame.f_back
    return "unknown"


# --- transactions -----------------------------------------------------------------------------


@dataclass
class _Write:
    write: TableWrite
    savepoints: tuple[str, ...]  # savepoints open when it ran: rolling one back undoes it
    where: str
    ids: frozenset[str] | None = field(init=False)  # post_save may name an INSERT's new row

    def __post_init__(self) -> None:
        self.ids = self.write.ids


@dataclass
class _Recorded:
    aggregate_type: str
    aggregate_id: str
    savepoints: tuple[str, ...]


@dataclass
class _Transaction:
    """The tracked writes and the recorded events of one application transaction."""

    block: Any  # the outermost Atomic the application opened; None for manual transactions
    index: int  # its position in connection.atomic_blocks
    writes: list[_Write] = field(default_factory=list)
    recorded: list[_Recorded] = field(default_factory=list)


def _find_bypasses(writes: Sequence[_Write], recorded: Sequence[_Recorded]) -> list[Bypass]:
    """The tables changed without events: a named row needs an event with its id as subject; rows
    no statement named need at least one event of the aggregate type in the transaction."""
    events: dict[str, set[str]] = {}
    for entry in recorded:
        events.setdefault(entry.aggregate_type, set()).add(entry.aggregate_id)
    by_table: dict[str, list[_Write]] = {}
    for entry in writes:
        by_table.setdefault(entry.write.table.table, []).append(entry)
    bypasses = []
    for name, entries in by_table.items():
        table = entries[0].write.table
        subjects = events.get(table.aggregate_type, set())
        missing: dict[str, None] = {}
        unnamed = False
        statements: dict[str, None] = {}
        for entry in entries:
            if entry.ids is None:
                if not subjects:
                    unnamed = True
                    statements[f"{entry.write.verb} at {entry.where}"] = None
                continue
            lacking = sorted(entry.ids - subjects, key=_natural)
            if lacking:
                missing.update(dict.fromkeys(lacking))
                statements[f"{entry.write.verb} at {entry.where}"] = None
        if missing or unnamed:
            bypasses.append(
                Bypass(name, table.aggregate_type, tuple(missing), unnamed, tuple(statements))
            )
    return bypasses


def _natural(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.lstrip("-").isdigit() else (1, key)


class BypassGuard:
    """Watches one database connection: an execute wrapper plus hooks on commit and rollback.

    What it sees. Every statement passes `__call__` (Django's `connection.execute_wrappers`).
    An INSERT, UPDATE, DELETE, REPLACE, MERGE or TRUNCATE whose target is a tracked table (the
    model table of an aggregate in STRANGLER_SYNC, aggregate type from its event) is noted with
    the rows it names and the caller's file:line, unless outbox capture is suppressed (inbox
    handlers, reverse sync, projection resets: the kit's own writes, which must not publish) or
    Django's flush runs it. `record_event` notes each event it records (note_event_recorded).

    The transaction. What is checked together is one application transaction: from the outermost
    `atomic` block the application opened to its end. Blocks Django's TestCase opens around a
    test (`Atomic._from_testcase`) do not count, so under pytest-django's `db` fixture a service
    call is checked when its own outermost block releases its savepoint, exactly as it would be
    at commit in production. A write outside any application block is its own transaction
    (autocommit) and is checked at once.

    When it checks, and why refusing works. A commit does not pass the execute wrapper, and
    `transaction.on_commit` runs after the commit, too late to refuse. So the guard replaces the
    connection's `commit` and `rollback` (on that connection object only, while installed) and
    checks in `commit` before the real commit: when refusing, it rolls back and raises
    OutboxBypassError. In tests the outermost application block ends with `RELEASE SAVEPOINT`,
    which does pass the wrapper: the guard checks before running it, and when refusing raises
    OutboxBypassError, a DatabaseError, so `atomic` rolls back to the savepoint. A write with no
    transaction around it is refused before it runs. `ROLLBACK TO SAVEPOINT` forgets the writes
    and events made under that savepoint.

    Precision. By aggregate id where a statement names its rows: Django's UPDATE and DELETE of
    instances (save(), delete(), bulk_update, filter(pk=...) / pk__in updates and deletes, raw SQL
    ending in `WHERE id = ...` / `IN (...)`), INSERTs listing the primary key (bulk_create with
    ids), and single-row INSERTs whose new key post_save reports (save(), create()): each such row
    needs an event whose subject is its key, in the same transaction. Other writes (a filtered
    QuerySet.update or delete, bulk_create of new rows, other raw SQL) have table precision: the
    transaction must record at least one event of the aggregate type. Writes to other tables
    (many-to-many links, child tables of multi-table inheritance) are not watched.
    """

    def __init__(self, connection: BaseDatabaseWrapper, tables: dict[str, TrackedTable]) -> None:
        self.connection = connection
        self.tables = tables
        self.policies: list[BypassPolicy] = []
        self._transaction: _Transaction | None = None
        self._commit_on_connection: Callable[[], None] = connection.commit
        self._rollback_on_connection: Callable[[], None] = connection.rollback
        self._replaced: dict[str, Any] = {}

    # installation ------------------------------------------------------------------------

    def install(self) -> None:
        connection = self.connection
        # The connection's own attributes (not the class's methods) that install replaces.
        self._replaced = {name: connection.__dict__.get(name) for name in ("commit", "rollback")}
        connection.execute_wrappers.append(self)
        connection.commit = self._commit  # type: ignore[method-assign]
        connection.rollback = self._rollback  # type: ignore[method-assign]

    def uninstall(self) -> None:
        connection = self.connection
        if self in connection.execute_wrappers:
            connection.execute_wrappers.remove(self)
        for name, before in self._replaced.items():
            if before is None:
                connection.__dict__.pop(name, None)
            else:
                setattr(connection, name, before)
        self._transaction = None

    def forget_transaction(self) -> None:
        """A new database connection has no transaction in progress."""
        self._transaction = None

    @property
    def policy(self) -> BypassPolicy:
        return self.policies[-1]

    # the execute wrapper -----------------------------------------------------------------

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        keyword = statement_keyword(sql)
        if keyword == "RELEASE":
            if self._transaction is not None and not self._is_open(self._transaction):
                self._end(refusable=True)
            return execute(sql, params, many, context)
        if keyword == "ROLLBACK":
            result = execute(sql, params, many, context)
            self._rolled_back_to(sql)
            return result
        targets = write_targets(sql, self.tables) if keyword in WRITE_KEYWORDS else []
        if not targets:
            return execute(sql, params, many, context)
        from strangler.outbox.services import capture_is_suppressed

        if capture_is_suppressed():
            return execute(sql, params, many, context)
        where = _caller(sys._getframe(1))
        if where == _FLUSH:
            return execute(sql, params, many, context)
        if many and not isinstance(params, list | tuple):
            params = list(params)  # an iterator: read once here, once by the database
        writes = table_writes(sql, params, many, targets)
        self.settle()
        if not self._in_transaction():
            entries = [_Write(write, (), where) for write in writes]
            bypasses = _find_bypasses(entries, [])
            if self.policy.refuse:
                self._report(bypasses, refused=True)
                raise OutboxBypassError(bypasses)
            result = execute(sql, params, many, context)
            self._report(bypasses, refused=False)
            return result
        result = execute(sql, params, many, context)
        transaction = self._current()
        savepoints = tuple(sid for sid in self.connection.savepoint_ids if sid)
        transaction.writes.extend(_Write(write, savepoints, where) for write in writes)
        return result

    # notes from record_event and post_save -----------------------------------------------

    def note_recorded(self, aggregate_type: str, aggregate_id: str) -> None:
        self.settle()
        if not self._in_transaction():
            return
        savepoints = tuple(sid for sid in self.connection.savepoint_ids if sid)
        self._current().recorded.append(_Recorded(aggregate_type, aggregate_id, savepoints))

    def note_inserted(self, table: str, pk: Any) -> None:
        """save()/create() inserted one row whose key the database chose: name it."""
        transaction = self._transaction
        if transaction is None:
            return
        for entry in reversed(transaction.writes):
            if entry.write.table.table.lower() == table and entry.write.verb == "INSERT":
                if entry.ids is None and entry.write.rows == 1:
                    entry.ids = frozenset({str(pk)})
                return

    # transaction boundaries --------------------------------------------------------------

    def _commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        bypasses = _find_bypasses(transaction.writes, transaction.recorded) if transaction else []
        if bypasses and self.policy.refuse:
            self._report(bypasses, refused=True)
            self._rollback_on_connection()
            raise OutboxBypassError(bypasses)
        self._commit_on_connection()
        self._report(bypasses, refused=False)

    def _rollback(self) -> None:
        self._transaction = None
        self._rollback_on_connection()

    def _rolled_back_to(self, sql: str) -> None:
        transaction = self._transaction
        if transaction is None:
            return
        sid = rolled_back_savepoint(sql)
        if sid is None:  # a plain ROLLBACK
            self._transaction = None
            return
        if not self._is_open(transaction):  # the application's outermost block rolled back
            self._transaction = None
            return
        transaction.writes = [w for w in transaction.writes if sid not in w.savepoints]
        transaction.recorded = [r for r in transaction.recorded if sid not in r.savepoints]

    def _application_block(self) -> tuple[int, Any] | None:
        for index, block in enumerate(self.connection.atomic_blocks):
            if not getattr(block, "_from_testcase", False):
                return index, block
        return None

    def _in_transaction(self) -> bool:
        connection = self.connection
        if self._application_block() is not None:
            return True
        return not connection.in_atomic_block and not connection.get_autocommit()

    def _current(self) -> _Transaction:
        if self._transaction is None:
            found = self._application_block()
            index, block = found if found is not None else (-1, None)
            self._transaction = _Transaction(block, index)
        return self._transaction

    def _is_open(self, transaction: _Transaction) -> bool:
        connection = self.connection
        if transaction.block is None:
            return not connection.in_atomic_block and not connection.get_autocommit()
        blocks = connection.atomic_blocks
        return transaction.index < len(blocks) and blocks[transaction.index] is transaction.block

    def settle(self) -> None:
        """An application block ended without a savepoint to release (`atomic(savepoint=False)`
        inside a test's transaction): check it now, reporting only."""
        transaction = self._transaction
        if transaction is not None and not self._is_open(transaction):
            if self.connection.needs_rollback:
                self._transaction = None
            else:
                self._end(refusable=False)

    def _end(self, *, refusable: bool) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is None:
            return
        bypasses = _find_bypasses(transaction.writes, transaction.recorded)
        refused = refusable and bool(bypasses) and self.policy.refuse
        self._report(bypasses, refused=refused)
        if refused:
            raise OutboxBypassError(bypasses)

    def finish(self) -> None:
        """Check what is still pending (the watch ends); nothing can be refused any more."""
        self.settle()
        if self._transaction is not None and not self.connection.needs_rollback:
            self._end(refusable=False)
        self._transaction = None

    def _report(self, bypasses: Sequence[Bypass], *, refused: bool) -> None:
        for bypass in bypasses:
            self.policy.report(bypass, refused=refused)


def guard_of(connection: BaseDatabaseWrapper) -> BypassGuard | None:
    for wrapper in connection.execute_wrappers:
        if isinstance(wrapper, BypassGuard):
            return wrapper
    return None


def note_event_recorded(
    connection: BaseDatabaseWrapper, aggregate_type: str, aggregate_id: str
) -> None:
    """record_event recorded an event on `connection`; a no-op unless a guard watches it."""
    for wrapper in connection.execute_wrappers:
        if isinstance(wrapper, BypassGuard):
            wrapper.note_recorded(aggregate_type, aggregate_id)


def tracked_tables() -> dict[str, TrackedTable]:
    """Table name (lower case) -> tracked table, from STRANGLER_SYNC's aggregates."""
    from strangler.sync.conf import sync_settings

    tables = {}
    for spec in sync_settings().aggregates:
        meta = spec.model._meta
        tables[meta.db_table.lower()] = TrackedTable(
            meta.db_table, spec.event.rsplit(".", 1)[0], meta.pk.column
        )
    return tables


class BypassWatch:
    """Guards every connection of this process with one policy while started.

    Connections already open in this thread get a guard at start; connections opened later, in
    any thread, get one as they connect (`connection_created`). Stopping checks what is pending,
    then removes the policy; a connection left with no policy loses its guard entirely.
    """

    def __init__(self, policy: BypassPolicy, tables: dict[str, TrackedTable] | None = None) -> None:
        self.policy = policy
        self.tables = tables
        self._guards: list[BypassGuard] = []

    def start(self) -> None:
        self.policy.watch = self
        for connection in connections.all(initialized_only=True):
            self._attach(connection)
        connection_created.connect(self._connected, weak=False, dispatch_uid=id(self))
        post_save.connect(self._saved, weak=False, dispatch_uid=id(self))

    def stop(self) -> None:
        connection_created.disconnect(dispatch_uid=id(self))
        post_save.disconnect(dispatch_uid=id(self))
        self.policy.watch = None
        here = self._guards_of_this_thread()
        for guard in self._guards:
            if guard in here and guard.policies and guard.policies[-1] is self.policy:
                guard.finish()
            if self.policy in guard.policies:
                guard.policies.remove(self.policy)
            if not guard.policies:
                guard.uninstall()
        self._guards = []

    def settle(self) -> None:
        """Check application transactions that ended without a trace (see BypassGuard.settle)."""
        for guard in self._guards_of_this_thread():
            if guard.policies and guard.policies[-1] is self.policy:
                guard.settle()

    def _guards_of_this_thread(self) -> list[BypassGuard]:
        """Connections belong to threads: only this thread's may be inspected from here."""
        mine = [guard_of(connection) for connection in connections.all(initialized_only=True)]
        return [guard for guard in self._guards if guard in mine]

    def _attach(self, connection: BaseDatabaseWrapper) -> None:
        guard = guard_of(connection)
        if guard is None:
            if self.tables is None:  # resolved at the first connection: models are loaded
                self.tables = tracked_tables()
            guard = BypassGuard(connection, self.tables)
            guard.install()
        if self.policy not in guard.policies:
            guard.policies.append(self.policy)
            self._guards.append(guard)

    def _connected(self, sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
        guard = guard_of(connection)
        if guard is not None:
            guard.forget_transaction()
        self._attach(connection)

    def _saved(
        self, sender: Any, instance: Any, created: bool, raw: bool, using: str, **kwargs: Any
    ) -> None:
        if not created or raw:
            return
        guard = guard_of(connections[using])
        if guard is not None:
            guard.note_inserted(sender._meta.db_table.lower(), instance.pk)


@contextmanager
def watching(policy: BypassPolicy) -> Iterator[BypassPolicy]:
    """Guard this process's connections with `policy` inside the block (tests, scripts)."""
    watch = BypassWatch(policy)
    watch.start()
    try:
        yield policy
    finally:
        watch.stop()


def watch_from_settings() -> BypassWatch | None:
    """Start the process-wide guard STRANGLER_OUTBOX["BYPASS_GUARD"] asks for; None when off.

    Called from the outbox app's ready(). When off, nothing is installed: no execute wrapper, no
    signal receiver, statements run exactly as without the kit.
    """
    from strangler.outbox.conf import outbox_settings

    mode = outbox_settings().bypass_guard
    if mode not in ("log", "refuse"):
        return None
    watch = BypassWatch(LogBypasses(refuse=mode == "refuse"))
    watch.start()
    return watch
