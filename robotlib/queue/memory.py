"""A work queue held in memory, for unit tests of robots and of robotlib itself.

It keeps every rule of :mod:`robotlib.queue.base` (the same contract suite runs
against it and the SQL backend) but nothing survives the process. It is
thread-safe. Payloads and outputs are copied in (through JSON, so they come back as
from the SQL backend) and out, so a caller changing a dict it passed or got back
never changes the stored item.

Example:
    >>> from robotlib.queue import InMemoryBackend, NewItem
    >>> queue = InMemoryBackend()
    >>> queue.enqueue("lab_results", [NewItem("row-1", {"value": 7.1})]).added
    1
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from robotlib.errors import ItemNotFoundError, QueueError
from robotlib.queue import _transitions as t
from robotlib.queue.base import Clock, QueueBackend, utc_now
from robotlib.queue.models import (
    FINISHED_STATES,
    AuditEntry,
    EnqueueResult,
    HistoryEntry,
    ItemState,
    NewItem,
    Run,
    RunStatus,
    WorkItem,
)

__all__ = ["InMemoryBackend"]


def _copied(item: WorkItem) -> WorkItem:
    return replace(item, payload=deepcopy(item.payload), output=deepcopy(item.output))


def _claim_order(item: WorkItem) -> tuple[int, bool, datetime | None, int]:
    # Highest priority, then earliest deadline (none last), then lowest id.
    return (-item.priority, item.deadline is None, item.deadline, item.id)


class InMemoryBackend(QueueBackend):
    """Work items, runs and audit entries in dicts, guarded by one lock.

    Args:
        clock: returns the current UTC time; tests pass a fake one.
    """

    def __init__(self, *, clock: Clock = utc_now) -> None:
        super().__init__(clock=clock)
        self._lock = threading.Lock()
        self._items: dict[int, WorkItem] = {}
        self._references: set[tuple[str, str]] = set()
        self._history: dict[int, list[HistoryEntry]] = {}
        self._runs: dict[str, Run] = {}
        self._audit: list[AuditEntry] = []
        self._last_id = 0  # ids are never reused, even after a purge

    # Private API -----------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[datetime]:
        with self._lock:
            yield self.clock()

    def _item(self, item_id: int) -> WorkItem:
        try:
            return self._items[item_id]
        except KeyError:
            raise ItemNotFoundError(item_id) from None

    def _apply(self, change: t.Change, now: datetime) -> WorkItem:
        self._items[change.after.id] = change.after
        self._history.setdefault(change.after.id, []).append(change.history(now))
        return _copied(change.after)

    def _store(self, item: WorkItem) -> WorkItem:
        self._items[item.id] = item
        return _copied(item)

    # Items: loading --------------------------------------------------------------

    def enqueue(
        self, robot: str, items: Iterable[NewItem], *, run_id: str | None = None
    ) -> EnqueueResult:
        """Add items whose reference is new for the robot; skip the rest."""
        items = list(items)  # read the source before taking the lock
        changes: dict[str, t.Change] = {}
        existing = 0
        with self._locked() as now:
            for new in items:
                if (
                    new.reference in changes
                    or (robot, new.reference) in self._references
                ):
                    existing += 1
                    continue
                item_id = self._last_id + len(changes) + 1
                changes[new.reference] = t.enqueued(
                    robot, new, now=now, run_id=run_id, item_id=item_id
                )
            # Every item is valid (or enqueued raised): store them all.
            for reference, change in changes.items():
                self._apply(change, now)
                self._references.add((robot, reference))
            self._last_id += len(changes)
        return EnqueueResult(added=len(changes), existing=existing)

    # Items: the worker's side ----------------------------------------------------

    def claim_next(
        self, robot: str, *, owner: str, lease: timedelta, run_id: str | None = None
    ) -> WorkItem | None:
        """Lease the next due ``new`` item of the robot to ``owner``, or return None."""
        with self._locked() as now:
            due = [
                item
                for item in self._items.values()
                if item.robot == robot
                and item.state == ItemState.NEW
                and (item.not_before is None or item.not_before <= now)
            ]
            if not due:
                return None
            change = t.claimed(
                min(due, key=_claim_order),
                owner=owner,
                lease_expires=now + lease,
                now=now,
                run_id=run_id,
            )
            return self._apply(change, now)

    def extend_lease(self, item_id: int, *, owner: str, lease: timedelta) -> WorkItem:
        """Renew the lease of an item ``owner`` is working on."""
        with self._locked() as now:
            item = self._item(item_id)
            return self._store(
                t.lease_extended(item, owner=owner, lease_expires=now + lease)
            )

    def finish_stage(
        self, item_id: int, *, owner: str, stage: str, output: dict[str, Any]
    ) -> WorkItem:
        """Record a finished stage and the output so far (merged into ``output``)."""
        with self._locked():
            item = self._item(item_id)
            return self._store(
                t.stage_finished(item, owner=owner, stage=stage, output=output)
            )

    def complete(
        self, item_id: int, *, owner: str, output: dict[str, Any], note: str = ""
    ) -> WorkItem:
        """End the item ``done`` with its output (merged into ``output``)."""
        with self._locked() as now:
            item = self._item(item_id)
            change = t.completed(item, owner=owner, output=output, note=note, now=now)
            return self._apply(change, now)

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
        with self._locked() as now:
            change = t.failed(
                self._item(item_id),
                owner=owner,
                error_type=error_type,
                message=message,
                retry_at=retry_at,
                artifacts=artifacts,
                now=now,
            )
            return self._apply(change, now)

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
        with self._locked() as now:
            change = t.business_excepted(
                self._item(item_id),
                owner=owner,
                error_type=error_type,
                message=message,
                artifacts=artifacts,
                now=now,
            )
            return self._apply(change, now)

    def release(self, item_id: int, *, owner: str, note: str) -> WorkItem:
        """Give an unprocessed item back (a clean stop): ``new``, attempt uncounted."""
        with self._locked() as now:
            change = t.released(self._item(item_id), owner=owner, note=note)
            return self._apply(change, now)

    def recover_expired(self, robot: str | None = None) -> list[WorkItem]:
        """Return items whose lease expired to ``new``; return them."""
        with self._locked() as now:
            expired = [
                item
                for item in sorted(self._items.values(), key=lambda item: item.id)
                if item.state == ItemState.IN_PROGRESS
                and item.lease_expires is not None
                and item.lease_expires <= now
                and robot in (None, item.robot)
            ]
            return [self._apply(t.recovered(item), now) for item in expired]

    def recover_run(self, run_id: str, *, note: str) -> list[WorkItem]:
        """Return the ``in_progress`` items claimed by ``run_id`` to ``new``."""
        with self._locked() as now:
            held = [
                item
                for item in sorted(self._items.values(), key=lambda item: item.id)
                if item.state == ItemState.IN_PROGRESS and item.run_id == run_id
            ]
            return [self._apply(t.recovered(item, note=note), now) for item in held]

    # Items: the operator's side --------------------------------------------------

    def retry(
        self, item_ids: Sequence[int], *, actor: str, note: str
    ) -> list[WorkItem]:
        """Send exception items back to ``new`` with attempts reset to 0 (audited).

        All or nothing: if one item is missing or not an exception, none changes.
        """
        with self._locked() as now:
            changes = [
                t.retried(self._item(i), note=note) for i in dict.fromkeys(item_ids)
            ]
            return self._operate(changes, now, actor=actor, action="retry")

    def resolve(
        self, item_ids: Sequence[int], *, actor: str, note: str
    ) -> list[WorkItem]:
        """Close exception items as ``resolved`` with a required note (audited).

        All or nothing, like :meth:`retry`.

        Raises:
            ValueError: the note is blank.
        """
        note = t.require_note(note, "resolve")
        with self._locked() as now:
            changes = [
                t.resolved(self._item(i), note=note, now=now)
                for i in dict.fromkeys(item_ids)
            ]
            return self._operate(changes, now, actor=actor, action="resolve")

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

        Raises:
            ValueError: the note is blank, or the payload is not JSON data.
        """
        with self._locked() as now:
            change = t.corrected(
                self._item(item_id), payload=payload, note=note, run_id=run_id
            )
            return self._operate([change], now, actor=actor, action="correct")[0]

    def _operate(
        self, changes: list[t.Change], now: datetime, *, actor: str, action: str
    ) -> list[WorkItem]:
        done = []
        for change in changes:
            done.append(self._apply(change, now))
            entry_id = len(self._audit) + 1
            self._audit.append(
                AuditEntry(entry_id, now, actor, action, change.after.id, change.note)
            )
        return done

    # Items: reading --------------------------------------------------------------

    def get(self, item_id: int) -> WorkItem:
        """Return one item; raise ``ItemNotFoundError`` if there is none."""
        with self._lock:
            return _copied(self._item(item_id))

    def items(
        self,
        robot: str | None = None,
        *,
        states: Iterable[ItemState] | None = None,
        reference: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
    ) -> list[WorkItem]:
        """Return items, oldest first, filtered by robot, states, reference and run."""
        wanted = None if states is None else {ItemState(s) for s in states}
        with self._lock:
            found = [
                _copied(item)
                for item in sorted(self._items.values(), key=lambda item: item.id)
                if robot in (None, item.robot)
                and (wanted is None or item.state in wanted)
                and reference in (None, item.reference)
                and run_id in (None, item.run_id)
            ]
        return found[:limit] if limit is not None else found

    def counts(self, robot: str, *, run_id: str | None = None) -> dict[ItemState, int]:
        """Count the robot's items by state (every state present, zeros included)."""
        counted = dict.fromkeys(ItemState, 0)
        for item in self.items(robot, run_id=run_id):
            counted[item.state] += 1
        return counted

    def history(self, item_id: int) -> list[HistoryEntry]:
        """Return the item's state changes, oldest first."""
        with self._lock:
            self._item(item_id)
            return list(self._history.get(item_id, []))

    # Runs ------------------------------------------------------------------------

    def start_run(self, run_id: str, robot: str, *, host: str, pid: int) -> Run:
        """Record a run that starts now."""
        with self._locked() as now:
            if run_id in self._runs:
                raise QueueError(f"a run with id {run_id!r} exists already")
            run = Run(run_id, robot, now, None, RunStatus.RUNNING, {}, host, pid)
            self._runs[run_id] = run
            return replace(run, counts={})

    def finish_run(
        self, run_id: str, *, status: RunStatus, counts: dict[str, int], note: str = ""
    ) -> Run:
        """Record how a run ended."""
        with self._locked() as now:
            if run_id not in self._runs:
                raise KeyError(run_id)
            run = replace(
                self._runs[run_id],
                finished_at=now,
                status=RunStatus(status),
                counts=dict(counts),
                note=note,
            )
            self._runs[run_id] = run
            return replace(run, counts=dict(run.counts))

    def get_run(self, run_id: str) -> Run:
        """Return one run; raise ``KeyError`` if there is none."""
        with self._lock:
            run = self._runs[run_id]
            return replace(run, counts=dict(run.counts))

    def runs(self, robot: str | None = None, *, limit: int | None = None) -> list[Run]:
        """Return runs, newest first (by start, then by id)."""
        with self._lock:
            found = [
                replace(run, counts=dict(run.counts))
                for run in self._runs.values()
                if robot in (None, run.robot)
            ]
        found.sort(key=lambda run: (run.started_at, run.id), reverse=True)
        return found[:limit] if limit is not None else found

    # Audit and retention ---------------------------------------------------------

    def record_audit(
        self, *, actor: str, action: str, note: str, item_id: int | None = None
    ) -> AuditEntry:
        """Write one audit entry now."""
        with self._lock:
            entry = AuditEntry(
                len(self._audit) + 1, self.clock(), actor, action, item_id, note
            )
            self._audit.append(entry)
        return entry

    def audit_log(
        self,
        *,
        item_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Return audit entries, newest first, filtered by item, actor, action and
        time (``since``: entries at or after it; timezone-aware)."""
        start = t.aware(since, "since")
        with self._lock:
            found = [
                e
                for e in reversed(self._audit)
                if item_id in (None, e.item_id)
                and actor in (None, e.actor)
                and action in (None, e.action)
                and (start is None or e.at >= start)
            ]
        return found[:limit] if limit is not None else found

    def purge(self, *, finished_before: datetime) -> int:
        """Delete runs and finished items older than the cut-off; return items gone.

        A run counts as old by its end, or by its start if it never ended. History
        goes with its item; the audit trail is kept.
        """
        cutoff = t.aware(finished_before, "finished_before")
        with self._lock:
            gone = [
                item
                for item in self._items.values()
                if item.state in FINISHED_STATES
                and item.finished_at is not None
                and item.finished_at < cutoff
            ]
            for item in gone:
                del self._items[item.id]
                self._references.discard((item.robot, item.reference))
                self._history.pop(item.id, None)
            for run in list(self._runs.values()):
                if (run.finished_at or run.started_at) < cutoff:
                    del self._runs[run.id]
        return len(gone)
