"""The work queue in a SQL database through SQLAlchemy Core: SQLite or PostgreSQL.

One code path serves both. ``claim_next`` selects the next item ``FOR UPDATE SKIP
LOCKED`` where the database has it (PostgreSQL: workers on several machines skip
each other's rows) and inside a ``BEGIN IMMEDIATE`` transaction on SQLite (one writer
at a time across processes), then updates it in the same transaction. What each
operation does to an item is decided in :mod:`robotlib.queue._transitions`, the same
as for the in-memory backend; this module loads, locks and stores.

Database errors never escape as ``sqlalchemy.exc`` errors: they become
:class:`~robotlib.errors.QueueError` naming the database (without its password).
Statement parameters are hidden from SQLAlchemy's messages: they hold patient data.

Example:
    >>> from robotlib.queue import NewItem, SqlAlchemyBackend
    >>> queue = SqlAlchemyBackend("sqlite:///.rpa/robotlib.db")
    >>> queue.enqueue("lab_results", [NewItem("row-1", {"value": 7.1})])
    EnqueueResult(added=1, existing=0)
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict, replace
from datetime import datetime

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from robotlib.db import database_engine, transaction, upgrade
from robotlib.db.schema import audit_log, item_history, runs, work_items
from robotlib.errors import ItemNotFoundError, QueueError
from robotlib.queue import _rows as rows
from robotlib.queue import _transitions as t
from robotlib.queue.base import Clock, ItemQuery, QueueBackend, utc_now
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
from robotlib.queue.trails import AuditQuery
from robotlib.versions import CodeVersion

__all__ = ["SqlAlchemyBackend"]

#: References looked up per query when enqueueing (well under SQLite's 999 limit).
_CHUNK = 500

_w, _h, _r, _a = work_items, item_history, runs, audit_log

# The statements of the hot path, built once (SQLAlchemy caches their compiled form;
# building them per call costs more than the database work on SQLite).

#: The next due item of a robot, in the order of ix_work_items_claim (which serves it).
_NEXT_DUE = (
    select(_w)
    .where(
        _w.c.robot == bindparam("robot"),
        _w.c.state == ItemState.NEW.value,
        or_(_w.c.not_before.is_(None), _w.c.not_before <= bindparam("now")),
    )
    .order_by(_w.c.priority.desc(), _w.c.deadline.is_(None), _w.c.deadline, _w.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
)
_ITEM_DUE = _NEXT_DUE.where(_w.c.id == bindparam("item_id"))
_ITEM_FOR_UPDATE = select(_w).where(_w.c.id == bindparam("item_id")).with_for_update()
#: SET takes its columns from the parameters: every column of rows.item_values.
_UPDATE_ITEM = update(_w).where(_w.c.id == bindparam("item_id"))
_INSERT_HISTORY = insert(_h)


class SqlAlchemyBackend(QueueBackend):
    """Work items, runs and audit entries in SQLite or PostgreSQL.

    Opening creates the tables, or migrates them (:mod:`robotlib.db.migrations`).

    Args:
        url: a SQLAlchemy URL (a SQLite file is created with its folder), or an
            Engine to use as it is. Pass a URL for SQLite: only engines made here
            get the ``BEGIN IMMEDIATE`` set-up that keeps claims atomic.
        clock: returns the current UTC time; tests pass a fake one.

    Raises:
        QueueError: the database cannot be opened or created, is not a database,
            or has a newer schema than this code.
    """

    def __init__(self, url: str | URL | Engine, *, clock: Clock = utc_now) -> None:
        super().__init__(clock=clock)
        self._owns_engine = not isinstance(url, Engine)
        self._engine = database_engine(url) if not isinstance(url, Engine) else url
        self._where = self._engine.url.render_as_string(hide_password=True)
        self._what = f"queue database {self._where}"
        try:
            with self._transaction() as conn:
                upgrade(conn)
        except QueueError:
            self.close()
            raise

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    # Storage primitives ----------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[Connection]:
        """A transaction that may write (SQLite: holding the write lock from BEGIN)."""
        return transaction(self._engine, write=True, where=self._what)

    def _read(self) -> AbstractContextManager[Connection]:
        """A read-only transaction (SQLite: a deferred one, not taking the lock)."""
        return transaction(self._engine, write=False, where=self._what)

    def _load(self, tx: Connection, item_id: int) -> WorkItem:
        row = tx.execute(_ITEM_FOR_UPDATE, {"item_id": item_id}).first()
        if row is None:
            raise ItemNotFoundError(item_id)
        return rows.item(row)

    def _save(
        self, tx: Connection, item: WorkItem, history: HistoryEntry | None
    ) -> WorkItem:
        tx.execute(_UPDATE_ITEM, {"item_id": item.id, **rows.item_values(item)})
        if history is not None:
            tx.execute(_INSERT_HISTORY, rows.history_values(history, item_id=item.id))
        return item

    def _add(self, tx: Connection, change: t.Change, now: datetime) -> WorkItem | None:
        dialect = postgresql if tx.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(_w)
            .values(rows.item_values(change.after))
            .on_conflict_do_nothing(index_elements=["robot", "reference"])
            .returning(_w.c.id)
        )
        item_id = tx.scalar(statement)  # None: the robot has the reference already
        if item_id is None:
            return None
        history = rows.history_values(change.history(now), item_id=item_id)
        tx.execute(_INSERT_HISTORY, history)
        return replace(change.after, id=item_id)

    def _audit(self, tx: Connection, entry: AuditEntry) -> None:
        values = asdict(entry)
        del values["id"]
        tx.execute(insert(_a), values)

    def _next_due(
        self, tx: Connection, robot: str, now: datetime, item_id: int | None = None
    ) -> WorkItem | None:
        if item_id is not None:
            found = {"robot": robot, "now": now, "item_id": item_id}
            row = tx.execute(_ITEM_DUE, found).first()
            return None if row is None else rows.item(row)
        row = tx.execute(_NEXT_DUE, {"robot": robot, "now": now}).first()
        return None if row is None else rows.item(row)

    def _held(
        self,
        tx: Connection,
        robot: str | None,
        expired_by: datetime | None,
        run: str | None,
    ) -> list[WorkItem]:
        query = select(_w).where(_w.c.state == ItemState.IN_PROGRESS.value)
        if robot is not None:
            query = query.where(_w.c.robot == robot)
        if run is not None:
            query = query.where(_w.c.run_id == run)
        if expired_by is not None:
            # another worker's recovery may hold some: they are its to give back
            query = query.where(_w.c.lease_expires <= expired_by)
            query = query.with_for_update(skip_locked=True)
        else:
            query = query.with_for_update()
        return [rows.item(row) for row in tx.execute(query.order_by(_w.c.id))]

    # Items: loading --------------------------------------------------------------

    def enqueue(
        self, robot: str, items: Iterable[NewItem], *, run_id: str | None = None
    ) -> EnqueueResult:
        """Add items whose reference is new for the robot; skip the rest.

        Known references are looked up 500 at a time and the new items inserted in
        bulk, all in one transaction.
        """
        now = self.clock()
        fresh: dict[str, t.Change] = {}
        repeated = 0
        for new in items:
            if new.reference in fresh:
                repeated += 1
            else:
                fresh[new.reference] = t.enqueued(robot, new, now=now, run_id=run_id)
        if not fresh:
            return EnqueueResult(added=0, existing=repeated)
        try:
            added, known = self._insert_new(robot, fresh, now)
        except QueueError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            # Another process added some of these references meanwhile (PostgreSQL,
            # where the look-up locks nothing): look them up again.
            added, known = self._insert_new(robot, fresh, now)
        return EnqueueResult(added=added, existing=known + repeated)

    def _insert_new(
        self, robot: str, fresh: dict[str, t.Change], now: datetime
    ) -> tuple[int, int]:
        references = list(fresh)
        with self._transaction() as conn:
            known: set[str] = set()
            for start in range(0, len(references), _CHUNK):
                chunk = references[start : start + _CHUNK]
                query = select(_w.c.reference).where(
                    _w.c.robot == robot, _w.c.reference.in_(chunk)
                )
                known.update(conn.scalars(query))
            changes = [c for ref, c in fresh.items() if ref not in known]
            if changes:
                ids = conn.scalars(
                    insert(_w).returning(_w.c.id, sort_by_parameter_order=True),
                    [rows.item_values(c.after) for c in changes],
                ).all()
                conn.execute(
                    insert(_h),
                    [
                        rows.history_values(c.history(now), item_id)
                        for c, item_id in zip(changes, ids, strict=True)
                    ],
                )
        return len(changes), len(known)

    # Items: reading --------------------------------------------------------------

    def get(self, item_id: int) -> WorkItem:
        with self._read() as conn:
            row = conn.execute(select(_w).where(_w.c.id == item_id)).first()
        if row is None:
            raise ItemNotFoundError(item_id)
        return rows.item(row)

    def _find_items(self, query: ItemQuery) -> list[WorkItem]:
        select_ = select(_w).order_by(_w.c.id).limit(query.limit)
        if query.robot is not None:
            select_ = select_.where(_w.c.robot == query.robot)
        if query.states is not None:
            select_ = select_.where(_w.c.state.in_([s.value for s in query.states]))
        if query.reference is not None:
            select_ = select_.where(_w.c.reference == query.reference)
        if query.run_id is not None:
            select_ = select_.where(_w.c.run_id == query.run_id)
        if query.parent_id is not None:
            select_ = select_.where(_w.c.parent_id == query.parent_id)
        with self._read() as conn:
            return [rows.item(row) for row in conn.execute(select_)]

    def counts(self, robot: str, *, run_id: str | None = None) -> dict[ItemState, int]:
        query = (
            select(_w.c.state, func.count())
            .where(_w.c.robot == robot)
            .group_by(_w.c.state)
        )
        if run_id is not None:
            query = query.where(_w.c.run_id == run_id)
        counted = dict.fromkeys(ItemState, 0)
        with self._read() as conn:
            for state, count in conn.execute(query):
                counted[ItemState(state)] = count
        return counted

    def history(self, item_id: int) -> list[HistoryEntry]:
        query = select(_h).where(_h.c.item_id == item_id).order_by(_h.c.id)
        with self._read() as conn:
            if conn.scalar(select(_w.c.id).where(_w.c.id == item_id)) is None:
                raise ItemNotFoundError(item_id)
            return [rows.history(row) for row in conn.execute(query)]

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
        run = Run(
            run_id,
            robot,
            self.clock(),
            None,
            RunStatus.RUNNING,
            {},
            host,
            pid,
            **asdict(version or CodeVersion()),
        )
        with self._transaction() as conn:
            if conn.scalar(select(_r.c.id).where(_r.c.id == run_id)) is not None:
                raise QueueError(f"a run with id {run_id!r} exists already")
            conn.execute(insert(_r), {**asdict(run), "status": run.status.value})
        return run

    def finish_run(
        self, run_id: str, *, status: RunStatus, counts: dict[str, int], note: str = ""
    ) -> Run:
        values = {
            "finished_at": self.clock(),
            "status": RunStatus(status).value,
            "counts": dict(counts),
            "note": note,
        }
        with self._transaction() as conn:
            done = conn.execute(update(_r).where(_r.c.id == run_id).values(values))
            if done.rowcount == 0:
                raise KeyError(run_id)
            row = conn.execute(select(_r).where(_r.c.id == run_id)).one()
        return rows.run(row)

    def get_run(self, run_id: str) -> Run:
        with self._read() as conn:
            row = conn.execute(select(_r).where(_r.c.id == run_id)).first()
        if row is None:
            raise KeyError(run_id)
        return rows.run(row)

    def runs(self, robot: str | None = None, *, limit: int | None = None) -> list[Run]:
        query = select(_r).order_by(_r.c.started_at.desc(), _r.c.id.desc()).limit(limit)
        if robot is not None:
            query = query.where(_r.c.robot == robot)
        with self._read() as conn:
            return [rows.run(row) for row in conn.execute(query)]

    # Audit and retention ---------------------------------------------------------

    def record_audit(
        self, *, actor: str, action: str, note: str, item_id: int | None = None
    ) -> AuditEntry:
        at = self.clock()
        values = {"actor": actor, "action": action, "item_id": item_id, "note": note}
        with self._transaction() as conn:
            entry_id = conn.scalar(insert(_a).returning(_a.c.id), {"at": at, **values})
        return AuditEntry(int(entry_id or 0), at, actor, action, item_id, note)

    def _find_audit(self, query: AuditQuery) -> list[AuditEntry]:
        select_ = select(_a).order_by(_a.c.id.desc()).limit(query.limit)
        if query.item_id is not None:
            select_ = select_.where(_a.c.item_id == query.item_id)
        if query.actor is not None:
            select_ = select_.where(_a.c.actor == query.actor)
        if query.action is not None:
            select_ = select_.where(_a.c.action == query.action)
        if query.since is not None:
            select_ = select_.where(_a.c.at >= query.since)
        with self._read() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(select_)]

    def purge(self, *, finished_before: datetime) -> int:
        cutoff = t.aware(finished_before, "finished_before")
        old_items = select(_w.c.id).where(
            _w.c.state.in_([s.value for s in FINISHED_STATES]),
            _w.c.finished_at < cutoff,
        )
        old_runs = or_(
            _r.c.finished_at < cutoff,
            and_(_r.c.finished_at.is_(None), _r.c.started_at < cutoff),
        )
        with self._transaction() as conn:
            conn.execute(delete(_h).where(_h.c.item_id.in_(old_items)))
            gone = conn.execute(delete(_w).where(_w.c.id.in_(old_items))).rowcount
            conn.execute(delete(_r).where(old_runs))
        return gone
