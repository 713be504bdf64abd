"""Scheduled jobs an operator has paused: who, when and why.

A pause is one row of ``schedule_pauses`` per job name. The scheduler reads the
table at each firing (never caching it), so a pause or resume from another process
(``rpa schedules pause``, the console) takes effect at the job's next firing
without restarting the scheduler. While a job is paused its run firings are
recorded as skipped with :meth:`Pause.reason`, and its preflight and deadline check
do not start. Resuming deletes the row; the audit trail keeps the history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from robotlib.db.schema import schedule_pauses

__all__ = ["PAUSED_PREFIX", "Pause", "PauseStore"]

_p = schedule_pauses

#: How the note of a firing skipped because its job was paused begins.
PAUSED_PREFIX = "paused by "


@dataclass(frozen=True)
class Pause:
    """A paused job: who paused it, when (UTC) and why."""

    job: str
    paused_by: str
    paused_at: datetime
    note: str

    def reason(self, paused_at: str | None = None) -> str:
        """Why a firing did not run: ``paused by NAME at TIME: NOTE``.

        Args:
            paused_at: the time as people should read it; default ISO UTC.

        Example:
            >>> Pause("nightly", "cli:anna", datetime(2026, 12, 3, 1, tzinfo=UTC),
            ...       "EPJ upgrade tonight").reason()
            'paused by cli:anna at 2026-12-03T01:00:00+00:00: EPJ upgrade tonight'
        """
        when = paused_at or self.paused_at.isoformat()
        return f"{PAUSED_PREFIX}{self.paused_by} at {when}: {self.note}"


class PauseStore:
    """Reads and writes ``schedule_pauses``.

    Args:
        engine: the project database (its schema already upgraded).

    Example:
        >>> pauses = PauseStore(engine)  # doctest: +SKIP
        >>> pauses.pause(
        ...     "nightly", actor="cli:anna", note="EPJ upgrade"
        ... )  # doctest: +SKIP
        >>> pauses.resume("nightly", actor="cli:anna")  # doctest: +SKIP
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def pause(self, job: str, *, actor: str, note: str) -> Pause:
        """Pause ``job``; pausing a paused job keeps (and returns) the first pause.

        Args:
            job: the job's name.
            actor: who pauses it (``cli:anna``, ``console:anna``).
            note: why; required, for the morning shift.

        Returns:
            The pause in force.

        Raises:
            ValueError: the note is blank.
        """
        note = note.strip()
        if not note:
            raise ValueError(
                "pausing a job needs a note saying why: the morning shift must know "
                "why a night run did not happen"
            )
        new = Pause(job=job, paused_by=actor, paused_at=datetime.now(UTC), note=note)
        try:
            with self.engine.begin() as conn:
                row = conn.execute(select(_p).where(_p.c.job == job)).first()
                if row is not None:
                    return _pause(row)
                conn.execute(insert(_p).values(asdict(new)))
        except IntegrityError:  # paused by someone else at the same moment
            found = self.get(job)
            if found is not None:
                return found
            raise
        return new

    def resume(self, job: str, *, actor: str) -> Pause | None:
        """Resume ``job``: its next regular firing runs (skipped ones do not).

        Args:
            job: the job's name.
            actor: who resumes it; not stored here (the row goes): the caller
                records it in the audit trail.

        Returns:
            The pause that ended, or None when the job was not paused.
        """
        with self.engine.begin() as conn:
            row = conn.execute(select(_p).where(_p.c.job == job)).first()
            if row is None:
                return None
            conn.execute(delete(_p).where(_p.c.job == job))
        return _pause(row)

    def get(self, job: str) -> Pause | None:
        """The job's pause, or None when it is not paused."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_p).where(_p.c.job == job)).first()
        return None if row is None else _pause(row)

    def all(self) -> dict[str, Pause]:
        """Every pause, by job name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_p).order_by(_p.c.job)).all()
        return {row.job: _pause(row) for row in rows}


def _pause(row: Any) -> Pause:
    return Pause(
        job=row.job, paused_by=row.paused_by, paused_at=row.paused_at, note=row.note
    )
