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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import asdict, replace
from datetime import datetime

from robotlib.errors import ItemNotFoundError, QueueError
from robotlib.queue import _transitions as t
from robotlib.queue import models
from robotlib.queue.base import Clock, ItemQuery, QueueBackend, utc_now
from robotlib.queue.models import AuditEntry, HistoryEntry, ItemState, Run, WorkItem
from robotlib.queue.trails import AuditQuery
from robotlib.versions import CodeVersion

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
        self._audit_entries: list[AuditEntry] = []
        self._last_id = 0  # ids are never reused, even after a purge

    # Storage primitives ----------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            yield None

    def _load(self, tx: None, item_id: int) -> WorkItem:
        return self._item(item_id)

    def _save(self, tx: None, item: WorkItem, history: HistoryEntry | None) -> WorkItem:
        self._items[item.id] = item
        if history is not None:
            self._history.setdefault(item.id, []).append(history)
        return _copied(item)

    def _add(self, tx: None, change: t.Change, now: datetime) -> WorkItem | None:
        key = (change.after.robot, change.after.reference)
        if key in self._references:
            return None
        self._last_id += 1
        item = replace(change.after, id=self._last_id)
        self._references.add(key)
        self._save(None, item, replace(change.history(now), item_id=item.id))
        return _copied(item)

    def _audit(self, tx: None, entry: AuditEntry) -> None:
        self._audit_entries.append(replace(entry, id=len(self._audit_entries) + 1))

    def _next_due(
        self, tx: None, robot: str, now: datetime, item_id: int | None = None
    ) -> WorkItem | None:
        due = [
            item
            for item in self._items.values()
            if item.robot == robot
            and item_id in (None, item.id)
            and item.state == ItemState.NEW
            and (item.not_before is None or item.not_before <= now)
        ]
        return min(due, key=_claim_order) if due else None

    def _held(
        self, tx: None, robot: str | None, expired_by: datetime | None, run: str | None
    ) -> list[WorkItem]:
        return [
            item
            for item in sorted(self._items.values(), key=lambda item: item.id)
            if item.state == ItemState.IN_PROGRESS
            and robot in (None, item.robot)
            and run in (None, item.run_id)
            and (
                expired_by is None
                or (item.lease_expires is not None and item.lease_expires <= expired_by)
            )
        ]

    def _item(self, item_id: int) -> WorkItem:
        try:
            return self._items[item_id]
        except KeyError:
            raise ItemNotFoundError(item_id) from None

    # Items: loading --------------------------------------------------------------

    def enqueue(
        self, robot: str, items: Iterable[models.NewItem], *, run_id: str | None = None
    ) -> models.EnqueueResult:
        items = list(items)  # read the source before taking the lock
        changes: dict[str, t.Change] = {}
        existing = 0
        with self._lock:
            now = self.clock()
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
                self._save(None, change.after, change.history(now))
                self._references.add((robot, reference))
            self._last_id += len(changes)
        return models.EnqueueResult(added=len(changes), existing=existing)

    # Items: reading --------------------------------------------------------------

    def get(self, item_id: int) -> WorkItem:
        with self._lock:
            return _copied(self._item(item_id))

    def _find_items(self, query: ItemQuery) -> list[WorkItem]:
        with self._lock:
            found = [
                _copied(item)
                for item in sorted(self._items.values(), key=lambda item: item.id)
                if query.robot in (None, item.robot)
                and (query.states is None or item.state in query.states)
                and query.reference in (None, item.reference)
                and query.run_id in (None, item.run_id)
                and query.parent_id in (None, item.parent_id)
            ]
        return found[: query.limit] if query.limit is not None else found

    def counts(self, robot: str, *, run_id: str | None = None) -> dict[ItemState, int]:
        counted = dict.fromkeys(ItemState, 0)
        for item in self.items(robot, run_id=run_id):
            counted[item.state] += 1
        return counted

    def history(self, item_id: int) -> list[HistoryEntry]:
        with self._lock:
            self._item(item_id)
            return list(self._history.get(item_id, []))

    # Runs ------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        robot: str,
        *,
        host: str,
        pid: int,
        version: CodeVersion | None = None,
    ) -> Run:
        with self._lock:
            now = self.clock()
            if run_id in self._runs:
                raise QueueError(f"a run with id {run_id!r} exists already")
            run = Run(
                run_id,
                robot,
                now,
                None,
                models.RunStatus.RUNNING,
                {},
                host,
                pid,
                **asdict(version or CodeVersion()),
            )
            self._runs[run_id] = run
            return replace(run, counts={})

    def finish_run(
        self,
        run_id: str,
        *,
        status: models.RunStatus,
        counts: dict[str, int],
        note: str = "",
    ) -> Run:
        with self._lock:
            now = self.clock()
            if run_id not in self._runs:
                raise KeyError(run_id)
            run = replace(
                self._runs[run_id],
                finished_at=now,
                status=models.RunStatus(status),
                counts=dict(counts),
                note=note,
            )
            self._runs[run_id] = run
            return replace(run, counts=dict(run.counts))

    def get_run(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs[run_id]
            return replace(run, counts=dict(run.counts))

    def runs(self, robot: str | None = None, *, limit: int | None = None) -> list[Run]:
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
        with self._lock:
            entry = AuditEntry(
                len(self._audit_entries) + 1, self.clock(), actor, action, item_id, note
            )
            self._audit_entries.append(entry)
        return entry

    def _find_audit(self, query: AuditQuery) -> list[AuditEntry]:
        with self._lock:
            found = [
                e
                for e in reversed(self._audit_entries)
                if query.item_id in (None, e.item_id)
                and query.actor in (None, e.actor)
                and query.action in (None, e.action)
                and (query.since is None or e.at >= query.since)
            ]
        return found[: query.limit] if query.limit is not None else found

    def purge(self, *, finished_before: datetime) -> int:
        cutoff = t.aware(finished_before, "finished_before")
        with self._lock:
            gone = [
                item
                for item in self._items.values()
                if item.state in models.FINISHED_STATES
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
