"""The work-queue interface, and its operations written once over storage.

A backend stores items, runs and the audit trail of one project. The engine calls
methods named for what they do. What an operation does to an item is decided in
:mod:`._transitions`; how it is carried out, once, here: in one transaction of the
backend's, load the item (locked), apply the transition, save it with its history
entry and, for an operator's action, an audit entry. A backend module provides only
those storage primitives (``_transaction``, ``_load``, ``_save``, ``_audit``,
``_next_due``, ``_held``), the bulk ``enqueue``, the reads and the purge; the runs
and the audit trail are the interfaces of :mod:`.trails`.

Rules every backend keeps (the contract suite in ``tests/queue`` checks them):

- ``enqueue`` is idempotent by ``(robot, reference)``: a known reference is skipped,
  whatever its state, and counted in ``existing``.
- ``claim_next`` is atomic: two workers never hold the same item. It takes the ``new``
  item of the robot with the highest priority, then the earliest deadline (none last),
  then the lowest id, whose ``not_before`` has passed; it sets ``in_progress``, counts
  an attempt and a claim, stamps ``started_at`` (first claim only), records the run
  and leases it to ``owner``.
- ``attempts`` counts claims since the item was enqueued or an operator retried it
  (the retry policy's budget); ``claims`` counts every claim ever, so ``claims > 1``
  means the item may have been worked on before (the engine then runs the precheck).
- Worker operations (``extend_lease``, ``finish_stage``, ``complete``, ``fail``,
  ``business_exception``, ``release``) need the lease: an item leased to another
  owner, or not in progress, raises ``LeaseLostError``.
- ``fail`` with ``retry_at`` returns the item to ``new`` not before that time;
  without it the item ends ``failed``.
- Operator operations (``retry``, ``resolve``) take ``business_exception`` and
  ``failed`` items only (else ``InvalidTransitionError``), write an audit entry
  each, and need a note to resolve (a blank one raises ``ValueError``). A batch is
  all or nothing: one missing or unfit item and none changes.
- ``correct`` gives a ``business_exception`` or ``failed`` item a new payload and
  sends it back to ``new`` like a retry, its error cleared (else
  ``InvalidTransitionError``); it needs a note and writes an audit entry.
- ``recover_expired`` returns ``in_progress`` items whose lease has expired to
  ``new`` (a crashed worker loses nothing); the attempt stays counted.
  ``recover_run`` does the same at once for the items a run holds, when its
  process is known to be dead (its supervisor saw it die).
- Every state change adds a ``HistoryEntry``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from robotlib.queue import _transitions as t
from robotlib.queue.models import (
    AuditEntry,
    EnqueueResult,
    Handoff,
    HistoryEntry,
    ItemState,
    NewItem,
    WorkItem,
)
from robotlib.queue.trails import AuditTrail, RunLog

__all__ = ["Clock", "ItemQuery", "QueueBackend", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ItemQuery:
    """Which items :meth:`QueueBackend.items` returns; None matches any."""

    robot: str | None = None
    states: frozenset[ItemState] | None = None
    reference: str | None = None
    run_id: str | None = None
    limit: int | None = None
    parent_id: int | None = None


class QueueBackend(RunLog, AuditTrail, abc.ABC):
    """Storage of work items, runs and audit entries.

    Args:
        clock: returns the current UTC time; tests pass a fake one.
    """

    def __init__(self, *, clock: Clock = utc_now) -> None:
        self.clock = clock

    # Storage primitives: what a backend provides ---------------------------------

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A transaction that may write; it yields the handle the primitives take.

        Everything done through one handle commits together or not at all (the
        in-memory backend holds its lock, and applies nothing before a batch's
        every change is known).
        """

    @abc.abstractmethod
    def _load(self, tx: Any, item_id: int) -> WorkItem:
        """The item, locked for this transaction; ``ItemNotFoundError`` if none."""

    @abc.abstractmethod
    def _save(self, tx: Any, item: WorkItem, history: HistoryEntry | None) -> WorkItem:
        """Store ``item`` (and ``history``, its change, if any); return it as read."""

    @abc.abstractmethod
    def _add(self, tx: Any, change: t.Change, now: datetime) -> WorkItem | None:
        """Store the item a creation ``change`` makes, with its history entry, unless
        its robot has that reference already (then None, and nothing stored)."""

    @abc.abstractmethod
    def _audit(self, tx: Any, entry: AuditEntry) -> None:
        """Add an audit entry for an operator's action (its ``id`` 0: the store
        numbers it)."""

    @abc.abstractmethod
    def _next_due(
        self, tx: Any, robot: str, now: datetime, item_id: int | None = None
    ) -> WorkItem | None:
        """The robot's next due ``new`` item in claim order, locked; None if none.

        With ``item_id``, that item only (when it is a due ``new`` item).

        Claim order: highest priority, then earliest deadline (none last), then
        lowest id; due: ``not_before`` is none or has passed. Concurrent workers
        must never both get one item (``FOR UPDATE SKIP LOCKED``, or a lock).
        """

    @abc.abstractmethod
    def _held(
        self, tx: Any, robot: str | None, expired_by: datetime | None, run: str | None
    ) -> list[WorkItem]:
        """The ``in_progress`` items (of ``robot``; whose lease expired by
        ``expired_by``; claimed by run ``run``; None: any), by id, locked."""

    # Items: loading --------------------------------------------------------------

    @abc.abstractmethod
    def enqueue(
        self, robot: str, items: Iterable[NewItem], *, run_id: str | None = None
    ) -> EnqueueResult:
        """Add items whose reference is new for the robot; skip the rest."""

    # Items: the worker's side ----------------------------------------------------

    def claim_next(
        self,
        robot: str,
        *,
        owner: str,
        lease: timedelta,
        run_id: str | None = None,
        item_id: int | None = None,
    ) -> WorkItem | None:
        """Lease the next due ``new`` item of the robot to ``owner``, or return None.

        With ``item_id``, only that item (``rpa run --item``), if it is due.
        """
        now = self.clock()
        with self._transaction() as tx:
            item = self._next_due(tx, robot, now, item_id)
            if item is None:
                return None
            change = t.claimed(
                item, owner=owner, lease_expires=now + lease, now=now, run_id=run_id
            )
            return self._apply(tx, change, now)

    def extend_lease(self, item_id: int, *, owner: str, lease: timedelta) -> WorkItem:
        """Renew the lease of an item ``owner`` is working on."""
        now = self.clock()
        with self._transaction() as tx:
            item = self._load(tx, item_id)
            extended = t.lease_extended(item, owner=owner, lease_expires=now + lease)
            return self._save(tx, extended, None)

    def finish_stage(
        self, item_id: int, *, owner: str, stage: str, output: dict[str, Any]
    ) -> WorkItem:
        """Record a finished stage and the output so far (merged into ``output``)."""
        with self._transaction() as tx:
            item = self._load(tx, item_id)
            staged = t.stage_finished(item, owner=owner, stage=stage, output=output)
            return self._save(tx, staged, None)

    def complete(
        self,
        item_id: int,
        *,
        owner: str,
        output: dict[str, Any],
        note: str = "",
        handoffs: Sequence[Handoff] = (),
    ) -> WorkItem:
        """End the item ``done`` with its output (merged into ``output``).

        Each hand-off becomes a ``new`` item of its robot in the same transaction,
        its ``parent_id`` this item: the item is done with its children or not at
        all. A child whose reference its robot has already is not added again.
        """
        now = self.clock()
        with self._transaction() as tx:
            item = self._load(tx, item_id)
            change = t.completed(item, owner=owner, output=output, note=note, now=now)
            children = [  # every change known before anything is stored
                t.enqueued(
                    h.robot, h.item, now=now, run_id=item.run_id, parent_id=item.id
                )
                for h in handoffs
            ]
            done = self._apply(tx, change, now)
            for child in children:
                self._add(tx, child, now)
            return done

    def fail(
        self,
        item_id: int,
        *,
        owner: str,
        error_type: str,
        message: str,
        retry_at: datetime | None,
        artifacts: Sequence[str] = (),
    ) -> WorkItem:
        """Record a system exception: ``new`` again at ``retry_at``, else ``failed``."""
        now = self.clock()
        with self._transaction() as tx:
            change = t.failed(
                self._load(tx, item_id),
                owner=owner,
                error_type=error_type,
                message=message,
                retry_at=retry_at,
                artifacts=artifacts,
                now=now,
            )
            return self._apply(tx, change, now)

    def business_exception(
        self,
        item_id: int,
        *,
        owner: str,
        error_type: str,
        message: str,
        artifacts: Sequence[str] = (),
    ) -> WorkItem:
        """End the item as a business exception, for a person to handle."""
        now = self.clock()
        with self._transaction() as tx:
            change = t.business_excepted(
                self._load(tx, item_id),
                owner=owner,
                error_type=error_type,
                message=message,
                artifacts=artifacts,
                now=now,
            )
            return self._apply(tx, change, now)

    def release(self, item_id: int, *, owner: str, note: str) -> WorkItem:
        """Give an unprocessed item back (a clean stop): ``new``, attempt uncounted."""
        now = self.clock()
        with self._transaction() as tx:
            change = t.released(self._load(tx, item_id), owner=owner, note=note)
            return self._apply(tx, change, now)

    def recover_expired(self, robot: str | None = None) -> list[WorkItem]:
        """Return items whose lease expired to ``new``; return them."""
        now = self.clock()
        with self._transaction() as tx:
            expired = self._held(tx, robot, now, None)
            return [self._apply(tx, t.recovered(item), now) for item in expired]

    def recover_run(self, run_id: str, *, note: str) -> list[WorkItem]:
        """Return the ``in_progress`` items claimed by ``run_id`` to ``new``.

        Only for a run whose process is known to be dead: its leases have not
        expired, so a live owner would lose its item. The attempt stays counted;
        ``note`` (why) goes into each item's history.
        """
        now = self.clock()
        with self._transaction() as tx:
            held = self._held(tx, None, None, run_id)
            return [self._apply(tx, t.recovered(i, note=note), now) for i in held]

    # Items: the operator's side --------------------------------------------------

    def retry(
        self, item_ids: Sequence[int], *, actor: str, note: str
    ) -> list[WorkItem]:
        """Send exception items back to ``new`` with attempts reset to 0 (audited).

        All or nothing: if one item is missing or not an exception, none changes.
        """
        now = self.clock()
        with self._transaction() as tx:
            changes = [
                t.retried(self._load(tx, i), note=note) for i in dict.fromkeys(item_ids)
            ]
            return self._operate(tx, changes, now, actor=actor, action="retry")

    def resolve(
        self, item_ids: Sequence[int], *, actor: str, note: str
    ) -> list[WorkItem]:
        """Close exception items as ``resolved`` with a required note (audited).

        All or nothing, like :meth:`retry`.

        Raises:
            ValueError: the note is blank.
        """
        note = t.require_note(note, "resolve")
        now = self.clock()
        with self._transaction() as tx:
            changes = [
                t.resolved(self._load(tx, i), note=note, now=now)
                for i in dict.fromkeys(item_ids)
            ]
            return self._operate(tx, changes, now, actor=actor, action="resolve")

    def correct(
        self,
        item_id: int,
        *,
        payload: dict[str, Any],
        actor: str,
        note: str,
        run_id: str | None = None,
    ) -> WorkItem:
        """Replace an exception item's payload and send it back to ``new`` (audited).

        The attempts are reset and the error cleared, as by :meth:`retry`; the
        note (what changed, from what) goes into the history and the audit entry,
        and ``run_id`` (the loading run) into the history.

        Raises:
            ValueError: the note is blank, or the payload is not JSON data.
        """
        now = self.clock()
        with self._transaction() as tx:
            change = t.corrected(
                self._load(tx, item_id), payload=payload, note=note, run_id=run_id
            )
            return self._operate(tx, [change], now, actor=actor, action="correct")[0]

    def _apply(self, tx: Any, change: t.Change, now: datetime) -> WorkItem:
        return self._save(tx, change.after, change.history(now))

    def _operate(
        self,
        tx: Any,
        changes: list[t.Change],
        now: datetime,
        *,
        actor: str,
        action: str,
    ) -> list[WorkItem]:
        """Apply an operator's changes (every one known: all or nothing), audited."""
        done = []
        for change in changes:
            entry = AuditEntry(0, now, actor, action, change.after.id, change.note)
            self._audit(tx, entry)
            done.append(self._apply(tx, change, now))
        return done

    # Items: reading --------------------------------------------------------------

    @abc.abstractmethod
    def get(self, item_id: int) -> WorkItem:
        """Return one item; raise ``ItemNotFoundError`` if there is none."""

    def items(
        self,
        robot: str | None = None,
        *,
        states: Iterable[ItemState] | None = None,
        reference: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
        parent_id: int | None = None,
    ) -> list[WorkItem]:
        """Return items, oldest first, filtered by robot, states, reference, run and
        parent (the items an item handed off)."""
        wanted = None if states is None else frozenset(ItemState(s) for s in states)
        query = ItemQuery(robot, wanted, reference, run_id, limit, parent_id)
        return self._find_items(query)

    @abc.abstractmethod
    def _find_items(self, query: ItemQuery) -> list[WorkItem]:
        """The items ``query`` matches, oldest (lowest id) first, at most its limit."""

    @abc.abstractmethod
    def counts(self, robot: str, *, run_id: str | None = None) -> dict[ItemState, int]:
        """Count the robot's items by state (every state present, zeros included)."""

    @abc.abstractmethod
    def history(self, item_id: int) -> list[HistoryEntry]:
        """Return the item's state changes, oldest first."""

    @abc.abstractmethod
    def purge(self, *, finished_before: datetime) -> int:
        """Delete runs and finished items older than the cut-off; return items gone.

        A run counts as old by its end, or by its start if it never ended. History
        goes with its item; the audit trail is kept.
        """

    def close(self) -> None:
        """Release connections; the default holds none."""
