"""The ``dispatches`` and ``dispatch_slots`` tables: a firing's worker slots.

A coordinating run (``rpa run ROBOT --workers N --fleet``, which the scheduler
starts) loads the input, then offers N worker slots in a dispatch. Agents that may
run the robot take slots, one by one, by a conditional update that raises
``taken`` only while it is below ``wanted`` and the dispatch is open: two agents
never take the same slot, and no more slots are taken than offered. For each slot
taken the agent records the worker run it starts (``<run id>a<slot>``) in
``dispatch_slots``, in the same transaction.

On PostgreSQL, offering slots sends ``NOTIFY rpa_work`` (with the robot's name) in
the offering transaction: agents waiting in ``LISTEN rpa_work`` hear of it when it
commits. On SQLite, agents look every few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, insert, select, text, update

from robotlib.db.schema import dispatch_slots, dispatches
from robotlib.fleet._tables import FleetStore

__all__ = ["CHANNEL", "Dispatch", "DispatchStore", "Slot", "SlotEnd"]

_d = dispatches
_s = dispatch_slots

#: The PostgreSQL notification channel agents listen on.
CHANNEL = "rpa_work"


class SlotEnd:
    """How a slot's worker ended (``dispatch_slots.ended``)."""

    #: It ended its run itself.
    RAN = "ran"
    #: It died without ending its run; its agent buried it.
    DIED = "died"
    #: Its agent drained: it stopped after its current item.
    DRAINED = "drained"
    #: Its agent went offline while it ran; what became of it is not known.
    LOST = "lost"


@dataclass(frozen=True)
class Dispatch:
    """A coordinating run's offer of worker slots."""

    id: int
    robot: str
    run_id: str
    wanted: int
    taken: int
    stop: int
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class Slot:
    """One slot taken: by which agent, for which worker run, and how it ended."""

    dispatch_id: int
    slot: int
    agent: str
    worker_run_id: str
    taken_at: datetime
    ended: str | None


class DispatchStore(FleetStore):
    """Reads and writes dispatches and their slots.

    Args:
        engine: the project database (its schema upgraded).
        clock: the current time (UTC).
    """

    def open(self, robot: str, run_id: str, wanted: int) -> Dispatch:
        """Offer ``wanted`` worker slots for coordinating run ``run_id``."""
        values = {
            "robot": robot,
            "run_id": run_id,
            "wanted": wanted,
            "taken": 0,
            "stop": 0,
            "created_at": self.clock(),
        }
        with self._write() as conn:
            conn.execute(insert(_d).values(values))
            _tell(conn, robot)
        return self.get(run_id)

    def get(self, run_id: str) -> Dispatch:
        """The dispatch of coordinating run ``run_id`` (KeyError: none)."""
        with self._read() as conn:
            row = conn.execute(select(_d).where(_d.c.run_id == run_id)).first()
        if row is None:
            raise KeyError(run_id)
        return _dispatch(row)

    def offer(self, dispatch: Dispatch, more: int) -> None:
        """Offer ``more`` slots besides those offered (a worker to replace)."""
        with self._write() as conn:
            conn.execute(
                update(_d)
                .where(_d.c.id == dispatch.id, _d.c.closed_at.is_(None))
                .values(wanted=_d.c.wanted + more)
            )
            _tell(conn, dispatch.robot)

    def withdraw(self, dispatch: Dispatch) -> int:
        """Withdraw the slots nobody took; return how many were taken."""
        with self._write() as conn:
            conn.execute(
                update(_d).where(_d.c.id == dispatch.id).values(wanted=_d.c.taken)
            )
            taken = conn.scalar(select(_d.c.taken).where(_d.c.id == dispatch.id))
        return int(taken or 0)

    def close(self, dispatch: Dispatch) -> None:
        """Close the dispatch: no slot can be taken any more."""
        with self._write() as conn:
            conn.execute(
                update(_d)
                .where(_d.c.id == dispatch.id)
                .values(wanted=_d.c.taken, closed_at=self.clock())
            )

    def ask_to_stop(self, dispatch: Dispatch, level: int) -> None:
        """Ask the agents to stop its workers: 1 after their item, 2 at once."""
        with self._write() as conn:
            conn.execute(
                update(_d)
                .where(_d.c.id == dispatch.id, _d.c.stop < level)
                .values(stop=level, wanted=_d.c.taken)
            )
            _tell(conn, dispatch.robot)

    def wanting(self, robots: Sequence[str] | None) -> list[Dispatch]:
        """Open dispatches with slots to take, oldest first (of ``robots``;
        None: of every robot)."""
        query = (
            select(_d)
            .where(_d.c.closed_at.is_(None), _d.c.taken < _d.c.wanted, _d.c.stop == 0)
            .order_by(_d.c.id)
        )
        if robots is not None:
            query = query.where(_d.c.robot.in_(list(robots)))
        with self._read() as conn:
            return [_dispatch(row) for row in conn.execute(query).all()]

    def take(self, dispatch: Dispatch, agent: str) -> Slot | None:
        """Take one slot of ``dispatch`` for ``agent``; None when none is left."""
        now = self.clock()
        with self._write() as conn:
            number = conn.execute(
                update(_d)
                .where(
                    _d.c.id == dispatch.id,
                    _d.c.taken < _d.c.wanted,
                    _d.c.closed_at.is_(None),
                    _d.c.stop == 0,
                )
                .values(taken=_d.c.taken + 1)
                .returning(_d.c.taken)
            ).scalar()
            if number is None:
                return None
            slot = Slot(
                dispatch.id, number, agent, f"{dispatch.run_id}a{number}", now, None
            )
            conn.execute(
                insert(_s).values(
                    dispatch_id=slot.dispatch_id,
                    slot=slot.slot,
                    agent=agent,
                    worker_run_id=slot.worker_run_id,
                    taken_at=now,
                )
            )
        return slot

    def slots(self, dispatch: Dispatch) -> list[Slot]:
        """The slots of ``dispatch`` taken so far, in order."""
        query = select(_s).where(_s.c.dispatch_id == dispatch.id).order_by(_s.c.slot)
        with self._read() as conn:
            return [_slot(row) for row in conn.execute(query).all()]

    def running_slots(self, agent: str) -> list[Slot]:
        """The slots ``agent`` took whose end is not recorded."""
        query = (
            select(_s)
            .where(_s.c.agent == agent, _s.c.ended.is_(None))
            .order_by(_s.c.dispatch_id, _s.c.slot)
        )
        with self._read() as conn:
            return [_slot(row) for row in conn.execute(query).all()]

    def dispatch_of(self, slot: Slot) -> Dispatch:
        """The dispatch a slot belongs to."""
        with self._read() as conn:
            row = conn.execute(select(_d).where(_d.c.id == slot.dispatch_id)).one()
        return _dispatch(row)

    def end(self, slot: Slot, how: str) -> bool:
        """Record how a slot's worker ended, unless it is recorded already."""
        with self._write() as conn:
            done = conn.execute(
                update(_s)
                .where(
                    _s.c.dispatch_id == slot.dispatch_id,
                    _s.c.slot == slot.slot,
                    _s.c.ended.is_(None),
                )
                .values(ended=how)
            )
        return done.rowcount > 0


def _tell(conn: Connection, robot: str) -> None:
    """Wake the listening agents when this transaction commits (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_notify('{CHANNEL}', :robot)"), {"robot": robot})


def _dispatch(row: Row[tuple[object, ...]]) -> Dispatch:
    return Dispatch(**row._mapping)  # its fields are the table's columns


def _slot(row: Row[tuple[object, ...]]) -> Slot:
    return Slot(**row._mapping)  # its fields are the table's columns
