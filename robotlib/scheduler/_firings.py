"""The record of every firing of a scheduled job: when, what ran, how it ended.

A firing is one attempt to run a job's robot (``kind="run"``), its preflight
(``"preflight"``) or a deadline check that found the run not done
(``"deadline"``). Firings that could not start are recorded too (``skipped``,
``missed``), so the morning review sees every night's run or the reason it is
missing. ``attention`` holds why a firing needs a person, or None.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, desc, insert, select, update

from robotlib.db.schema import schedule_firings

__all__ = ["Firing", "FiringStatus", "FiringStore"]

_f = schedule_firings


class FiringStatus:
    """The statuses of a firing (plain strings in the database)."""

    RUNNING = "running"
    COMPLETED = "completed"  # the run completed (business exceptions included)
    STOPPED = "stopped"  # the run stopped: system exceptions, crash, interrupted
    TIMED_OUT = "timed_out"  # killed at the job's maximum run time
    FAILED = "failed"  # the run could not start (exit 2), or the preflight failed
    SKIPPED = "skipped"  # not started: the robot was running already, no input
    MISSED = "missed"  # the scheduler was down or late past the misfire grace


@dataclass(frozen=True)
class Firing:
    """One firing of a scheduled job."""

    id: int
    job: str
    robot: str
    kind: str
    trigger: str
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    exit_code: int | None
    run_id: str | None
    host: str
    pid: int
    note: str
    attention: str | None


class FiringStore:
    """Reads and writes ``schedule_firings``.

    Args:
        engine: the project database (its schema already upgraded).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(
        self,
        *,
        job: str,
        robot: str,
        kind: str,
        trigger: str,
        scheduled_for: datetime | None,
        run_id: str | None = None,
    ) -> tuple[Firing, bool]:
        """Record a firing that starts now, unless the robot is running already.

        A running firing whose process has died (on this host) is closed first.

        Returns:
            ``(the new firing, True)``, or ``(the running firing of the same robot,
            False)`` when nothing was recorded.
        """
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            for row in conn.execute(
                select(_f)
                .where(_f.c.robot == robot)
                .where(_f.c.kind == kind)
                .where(_f.c.status == FiringStatus.RUNNING)
            ):
                other = _firing(row)
                if _alive(other):
                    return other, False
                conn.execute(
                    update(_f)
                    .where(_f.c.id == other.id)
                    .values(
                        status=FiringStatus.STOPPED,
                        finished_at=now,
                        note="the scheduler that started it ended without recording "
                        "the outcome",
                    )
                )
            values = self._values(job, robot, kind, trigger, scheduled_for, now)
            values.update(status=FiringStatus.RUNNING, run_id=run_id)
            new_id = _inserted_id(conn.execute(insert(_f).values(values)))
        return self.get(new_id), True

    def record(
        self,
        *,
        job: str,
        robot: str,
        kind: str,
        trigger: str,
        scheduled_for: datetime | None,
        status: str,
        note: str,
        attention: str | None = None,
    ) -> Firing:
        """Record a firing that did not start (skipped or missed) or an alarm."""
        now = datetime.now(UTC)
        values = self._values(job, robot, kind, trigger, scheduled_for, now)
        values.update(status=status, note=note, attention=attention, finished_at=now)
        with self.engine.begin() as conn:
            new_id = _inserted_id(conn.execute(insert(_f).values(values)))
        return self.get(new_id)

    def finish(
        self,
        firing_id: int,
        *,
        status: str,
        exit_code: int | None,
        note: str,
        attention: str | None,
    ) -> Firing:
        """Record how a running firing ended."""
        with self.engine.begin() as conn:
            conn.execute(
                update(_f)
                .where(_f.c.id == firing_id)
                .values(
                    status=status,
                    exit_code=exit_code,
                    note=note,
                    attention=attention,
                    finished_at=datetime.now(UTC),
                )
            )
        return self.get(firing_id)

    def get(self, firing_id: int) -> Firing:
        """One firing by id (raises KeyError)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_f).where(_f.c.id == firing_id)).first()
        if row is None:
            raise KeyError(f"no firing {firing_id}")
        return _firing(row)

    def find(
        self,
        *,
        job: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Firing]:
        """Firings, newest first."""
        query = select(_f).order_by(desc(_f.c.started_at), desc(_f.c.id))
        if job is not None:
            query = query.where(_f.c.job == job)
        if kind is not None:
            query = query.where(_f.c.kind == kind)
        if since is not None:
            query = query.where(_f.c.started_at >= since)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_firing(row) for row in conn.execute(query)]

    def running(self, *, robot: str, kind: str) -> list[Firing]:
        """The robot's firings of ``kind`` recorded as running, oldest first."""
        query = (
            select(_f)
            .where(_f.c.robot == robot)
            .where(_f.c.kind == kind)
            .where(_f.c.status == FiringStatus.RUNNING)
            .order_by(_f.c.started_at)
        )
        with self.engine.connect() as conn:
            return [_firing(row) for row in conn.execute(query)]

    def last(self, job: str, *, kind: str = "run") -> Firing | None:
        """The job's latest firing of ``kind``."""
        found = self.find(job=job, kind=kind, limit=1)
        return found[0] if found else None

    @staticmethod
    def _values(
        job: str,
        robot: str,
        kind: str,
        trigger: str,
        scheduled_for: datetime | None,
        now: datetime,
    ) -> dict[str, Any]:
        return {
            "job": job,
            "robot": robot,
            "kind": kind,
            "trigger": trigger,
            "scheduled_for": scheduled_for,
            "started_at": now,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "note": "",
        }


def _inserted_id(result: Any) -> int:
    return int(result.inserted_primary_key[0])


def _firing(row: Any) -> Firing:
    return Firing(
        id=int(row.id),
        job=row.job,
        robot=row.robot,
        kind=row.kind,
        trigger=row.trigger,
        scheduled_for=row.scheduled_for,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        exit_code=row.exit_code,
        run_id=row.run_id,
        host=row.host,
        pid=int(row.pid),
        note=row.note,
        attention=row.attention,
    )


def _alive(firing: Firing) -> bool:
    """Whether the process that started a running firing still lives.

    Only a process on this host can be checked; one on another host is trusted.
    """
    if firing.host != socket.gethostname():
        return True
    if firing.pid == os.getpid() or os.name != "posix":
        return True  # on Windows, os.kill(pid, 0) would end the process
    try:
        os.kill(firing.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
