"""Scheduled jobs for the CLI and the console: read them, pause and resume them.

:class:`ScheduleService` works from any process, with or without a scheduler
running: it reads the schedule files, the job store (through APScheduler's job
store API, :mod:`._jobs`), the firings and the pauses, and never starts
APScheduler. Pauses take effect at the job's next firing, because the active
scheduler reads them at each one (:mod:`._pauses`).

This module also holds the functions APScheduler's stored jobs call by a text
reference (``robotlib.scheduler._service:fire_run``): rows stored by any earlier
robotlib name this path, so they stay here. Each hands the firing to the active
scheduler's :class:`~robotlib.scheduler._firer.Firer` in this process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from robotlib.db import database_engine
from robotlib.discovery import Problem
from robotlib.errors import ConfigurationError
from robotlib.project import Project
from robotlib.queue.base import utc_now
from robotlib.queue.sqlalchemy import SqlAlchemyBackend
from robotlib.schedule import Job, next_fire_times
from robotlib.scheduler._firings import Firing, FiringStore
from robotlib.scheduler._jobs import fingerprint, load_jobs, stored_states, valid_job
from robotlib.scheduler._lock import LockHolder, current_holder
from robotlib.scheduler._pauses import Pause, PauseStore

__all__ = [
    "JobStatus",
    "ScheduleService",
    "check_deadline",
    "fire_preflight",
    "fire_run",
    "set_active",
]

log = structlog.get_logger("robotlib.scheduler")


@dataclass(frozen=True)
class JobStatus:
    """A scheduled job as ``rpa schedules`` shows it.

    ``paused`` is true when the job is disabled in its file (``enabled = false``)
    or an operator paused it; ``pause`` then says who, when and why.
    """

    job: Job
    next_runs: list[datetime]
    paused: bool
    last: Firing | None
    pause: Pause | None = None


class ScheduleService:
    """Reads, pauses and resumes a project's scheduled jobs, without a daemon.

    Args:
        project: the project (its database must be SQL: SQLite or PostgreSQL).
        clock: the current time (UTC); tests pass a fake.

    Example:
        >>> service = ScheduleService(project)  # doctest: +SKIP
        >>> service.pause("lab_results_nightly", actor="cli:anna",
        ...               note="EPJ upgrade tonight")  # doctest: +SKIP
    """

    def __init__(
        self, project: Project, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        if project.settings.database.startswith("memory:"):
            raise ConfigurationError(
                "the scheduler needs a database (SQLite or PostgreSQL), not memory://"
            )
        self.project = project
        self.clock = clock or utc_now
        self.engine = database_engine(project.settings.database)
        self.backend = SqlAlchemyBackend(self.engine)
        self.firings = FiringStore(self.engine)
        self.pauses = PauseStore(self.engine)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> ScheduleService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def load_jobs(self) -> tuple[dict[str, Job], list[Problem]]:
        """The valid jobs of ``schedules/*.toml``, and the problems found."""
        return load_jobs(self.project)

    def status(self, *, count: int = 1) -> tuple[list[JobStatus], list[Problem]]:
        """Each job of the files: its next run times, whether paused, last firing.

        Next run times come from the job store when a scheduler has stored the job
        as the files define it, else they are computed from the files. A job is
        paused when disabled in its file or paused by an operator (``pause``).
        """
        jobs, problems = self.load_jobs()
        stored = stored_states(self.engine)
        pauses = self.pauses.all()
        now = self.clock()
        found = []
        for job in jobs.values():
            state = stored.get(job.name)
            paused = not job.enabled
            if state is not None and state.get("definition") == fingerprint(job):
                paused = state["next_run_time"] is None
            pause = pauses.get(job.name)
            paused = paused or pause is not None
            upcoming = [] if paused else next_fire_times(job, after=now, count=count)
            if state is not None and state.get("next_run_time") and not paused:
                first = job.local(state["next_run_time"])
                upcoming = [first, *next_fire_times(job, after=first, count=count - 1)]
            last = self.firings.last(job.name)
            found.append(JobStatus(job, upcoming[:count], paused, last, pause))
        return found, problems

    def active_scheduler(self) -> LockHolder | None:
        """The active scheduler as recorded, if its lock has not expired."""
        holder = current_holder(self.engine)
        if holder is None or holder.expires_at < self.clock():
            return None
        return holder

    def pause(self, name: str, *, actor: str, note: str) -> tuple[Pause, bool]:
        """Pause job ``name`` until resumed, from any process; audited.

        The scheduler reads the pauses at each firing, so the next firing of the
        job is skipped (recorded, with who paused it and why), and its preflights
        and deadline checks do not start. A run in progress is not stopped, and
        ``rpa schedules run-now`` still runs the job. Pausing a paused job changes
        nothing.

        Args:
            name: a job of ``schedules/*.toml``.
            actor: who pauses it, e.g. ``cli:anna`` or ``console:anna``.
            note: why; required: the morning shift must know why a run did not
                happen.

        Returns:
            ``(the pause in force, True)``, or ``(the earlier pause, False)`` when
            the job was paused already (then nothing is audited).

        Raises:
            ConfigurationError: no valid job has that name (the message lists them).
            ValueError: the note is blank.
        """
        valid_job(self.project, name)
        before = self.pauses.get(name)
        pause = self.pauses.pause(name, actor=actor, note=note)
        if before is not None:
            return pause, False
        self.backend.record_audit(
            actor=actor, action="schedule_pause", note=f"{name}: {pause.note}"
        )
        log.info("job_paused", job=name, actor=actor)
        return pause, True

    def resume(self, name: str, *, actor: str) -> Pause | None:
        """Resume job ``name``: its next regular firing runs; audited.

        Firings skipped while it was paused are not made up for.

        Args:
            name: a job of ``schedules/*.toml``, or any paused job (a pause stays
                when its job leaves the files, and can be lifted so).
            actor: who resumes it, e.g. ``cli:anna``.

        Returns:
            The pause that ended, or None when the job was not paused (then
            nothing is audited).

        Raises:
            ConfigurationError: no job and no pause has that name.
        """
        if self.pauses.get(name) is None:
            valid_job(self.project, name)
        pause = self.pauses.resume(name, actor=actor)
        if pause is None:
            return None
        self.backend.record_audit(
            actor=actor, action="schedule_resume", note=f"{name}: {pause.reason()}"
        )
        log.info("job_resumed", job=name, actor=actor)
        return pause


# The functions APScheduler stores a text reference to ------------------------------


class _Fires(Protocol):
    def fire_scheduled(self, name: str) -> None: ...
    def preflight_scheduled(self, name: str) -> None: ...
    def deadline_check(self, name: str) -> None: ...


_active_lock = threading.Lock()
_active: _Fires | None = None


def set_active(firer: _Fires | None) -> None:
    """Make ``firer`` the one the stored jobs' functions call (the daemon does)."""
    global _active
    with _active_lock:
        _active = firer


def fire_run(name: str, **_definition: Any) -> None:
    """Fire job ``name``'s robot (called by APScheduler)."""
    _firer().fire_scheduled(name)


def fire_preflight(name: str, **_definition: Any) -> None:
    """Run job ``name``'s preflight (called by APScheduler)."""
    _firer().preflight_scheduled(name)


def check_deadline(name: str, **_definition: Any) -> None:
    """Check that job ``name``'s run completed by its deadline (APScheduler)."""
    _firer().deadline_check(name)


def _firer() -> _Fires:
    with _active_lock:
        if _active is None:
            raise RuntimeError("no active scheduler in this process")
        return _active
