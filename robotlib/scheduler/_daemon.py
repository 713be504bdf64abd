"""The scheduler daemon behind ``rpa scheduler``: one active per database.

``Scheduler.serve`` loops until stopped:

1. **Standby** until it holds the scheduler lock (:mod:`._lock`); it logs who holds
   it instead.
2. **Active**: an APScheduler 3 ``BackgroundScheduler`` with its job store in the
   project database (table ``scheduler_jobs``, :mod:`._jobs`). It starts paused,
   the jobs are synced from ``schedules/*.toml``, then it resumes: firings missed
   while no scheduler was active are run once (``coalesce``) or several times, or,
   past the job's ``misfire_grace_s``, recorded as missed. Every poll it renews the
   lock and re-syncs when a schedule file changed; a lost lock sends it back to
   standby and stops the runs it started.

A job whose definition has not changed keeps its stored next run time across
restarts; that is what lets missed firings be noticed. What a firing does is
:mod:`._firer`; reading, pausing and resuming jobs without a daemon is
:class:`~robotlib.scheduler.ScheduleService`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.pool import (  # type: ignore[import-untyped]
    ThreadPoolExecutor,
)
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from sqlalchemy.exc import SQLAlchemyError

from robotlib.db import database_engine
from robotlib.errors import ConfigurationError, QueueError
from robotlib.notify import Notifier, build_notifiers
from robotlib.project import Project
from robotlib.queue.base import utc_now
from robotlib.scheduler._alerts import Alerts
from robotlib.scheduler._firer import Firer
from robotlib.scheduler._firings import Firing, FiringStatus
from robotlib.scheduler._jobs import (
    iso,
    job_store,
    load_jobs,
    local,
    paused_reason,
    specs,
    stored_definitions,
    valid_job,
)
from robotlib.scheduler._lock import (
    LockHolder,
    SchedulerLock,
    current_holder,
    open_lock,
)
from robotlib.scheduler._risks import DeadlineWatch
from robotlib.scheduler._service import set_active

__all__ = ["Scheduler", "SchedulerOptions"]

log = structlog.get_logger("robotlib.scheduler")

#: Seconds between the active scheduler's looks for items whose deadline is at risk.
DEADLINE_LOOK_S = 60.0


@dataclass(frozen=True)
class SchedulerOptions:
    """How the scheduler paces itself.

    Args:
        poll_s: how often it renews its lock, looks for changed schedule files and,
            on standby, tries to take over.
        lock_ttl_s: a lease lock's lifetime (SQLite): a standby takes over this
            long after the active scheduler died.
        term_grace_s: at a run's time limit, how long SIGTERM has before the kill.
        max_parallel: firings that may run at the same time (different robots).
    """

    poll_s: float = 5.0
    lock_ttl_s: float = 60.0
    term_grace_s: float = 60.0
    max_parallel: int = 8


class Scheduler:
    """Fires a project's scheduled jobs.

    Args:
        project: the project (its database must be SQL: SQLite or PostgreSQL).
        options: pacing; the defaults suit production.
        notifiers: where attention goes; default: those ``rpa.toml`` configures.
        clock: the current time (UTC); tests pass a fake.

    Example:
        >>> scheduler = Scheduler(project)  # doctest: +SKIP
        >>> scheduler.serve()  # until scheduler.stop is set  # doctest: +SKIP
    """

    def __init__(
        self,
        project: Project,
        *,
        options: SchedulerOptions | None = None,
        notifiers: Sequence[Notifier] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.project = project
        self.settings = project.settings
        self.options = options or SchedulerOptions()
        if self.settings.database.startswith("memory:"):
            raise ConfigurationError(
                "the scheduler needs a database (SQLite or PostgreSQL), not memory://"
            )
        self.engine = database_engine(self.settings.database)
        self.clock = clock or utc_now
        self.stop = threading.Event()
        self._halt = threading.Event()
        self._lock: SchedulerLock | None = None
        self._aps: Any = None
        self._files: tuple[tuple[str, int, int], ...] | None = None
        self.alerts = Alerts(
            self.settings,
            notifiers
            if notifiers is not None
            else build_notifiers(self.settings, project.credentials),
            project.redactor,
        )
        self.firer = Firer(
            project,
            engine=self.engine,
            alerts=self.alerts,
            stop=self.stop,
            halt=self._halt,
            leader=self._still_leader,
            term_grace_s=self.options.term_grace_s,
            clock=self.clock,
        )
        self.firer.since = self._since
        self.deadlines = DeadlineWatch(
            self.settings,
            self.firer.backend,
            self.engine,
            self.alerts.notifiers,
            self.clock,
        )
        self._next_deadline_look = 0.0

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def run_now(self, name: str) -> list[Firing]:
        """Fire job ``name`` at once, in this process (``rpa schedules run-now``).

        A paused job runs too: firing it by hand is an operator's explicit action.
        """
        job = valid_job(self.project, name)
        return self.firer.fire(job, trigger="run-now", scheduled_for=None)

    # Serving -------------------------------------------------------------------------

    def serve(self) -> None:
        """Wait for the lock and fire jobs while holding it, until ``stop`` is set."""
        lock = open_lock(self.engine, ttl=timedelta(seconds=self.options.lock_ttl_s))
        announced: LockHolder | str | None = "nobody yet"
        where = self.engine.url.render_as_string(hide_password=True)
        log.info("scheduler_started", lock=lock.kind, database=where)
        try:
            while not self.stop.is_set():
                try:
                    if lock.acquire():
                        self._lead(lock)
                        announced = "nobody yet"
                        continue
                    holder = current_holder(self.engine)
                except SQLAlchemyError as exc:
                    log.error("database_unavailable", error=str(exc).splitlines()[0])
                    self.stop.wait(self.options.poll_s)
                    continue
                if holder != announced:
                    log.info("scheduler_standby", active=str(holder or "unknown"))
                    announced = holder
                self.stop.wait(self.options.poll_s)
        finally:
            try:
                lock.release()
            except SQLAlchemyError:
                pass  # the database is gone; so is our lease or advisory lock
            log.info("scheduler_stopped")

    def _lead(self, lock: SchedulerLock) -> None:
        self._lock = lock
        self._halt.clear()
        aps = BackgroundScheduler(
            jobstores={"default": job_store(self.engine)},
            executors={"default": ThreadPoolExecutor(self.options.max_parallel)},
            timezone=UTC,
        )
        aps.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        set_active(self.firer)
        self._aps = aps
        try:
            aps.start(paused=True)
            log.info("scheduler_active", lock=lock.kind)
            self.sync()
            aps.resume()
            while not self.stop.wait(self.options.poll_s):
                if not lock.renew():
                    log.error(
                        "scheduler_lock_lost",
                        detail="the lock expired or the database connection ended; "
                        "stopping this one's runs and going back to standby",
                    )
                    break
                if self._snapshot() != self._files:
                    self.sync()
                self._check_agents()
        except SQLAlchemyError as exc:
            log.error("database_unavailable", error=str(exc).splitlines()[0])
        finally:
            self._halt.set()
            if aps.running:
                aps.shutdown(wait=True)
            self._aps = None
            self._lock = None
            set_active(None)

    def _check_agents(self) -> None:
        """Mark agents that stopped beating offline, and tell (robotlib.fleet);
        once a minute, tell the items whose deadline is at risk."""
        try:
            self.firer.gone.check()
            if time.monotonic() >= self._next_deadline_look:
                self._next_deadline_look = time.monotonic() + DEADLINE_LOOK_S
                self.deadlines.check()
        except QueueError as exc:
            log.error("database_unreadable", error=str(exc).splitlines()[0])

    def _still_leader(self) -> bool:
        return self._lock is not None and not self._halt.is_set() and self._lock.renew()

    # Jobs ----------------------------------------------------------------------------

    def sync(self) -> None:
        """Make the stored jobs match the schedule files.

        New and changed jobs are (re)scheduled; unchanged ones keep their next run
        time. Jobs no longer in the files are removed, unless a file has problems:
        then every stored job stays as it was until the files are fixed.
        """
        self._files = self._snapshot()
        jobs, problems = load_jobs(self.project)
        for problem in problems:
            log.error("schedule_problem", problem=str(problem))
        aps = self._aps
        existing = {job.id: job for job in aps.get_jobs()}
        now = self.clock()
        wanted = {spec["id"]: spec for job in jobs.values() for spec in specs(job, now)}
        if problems:
            kept = stored_definitions(existing.values())
            self.firer.jobs = {**kept, **self.firer.jobs, **jobs}
            if set(existing) - set(wanted):
                log.warning(
                    "schedule_jobs_kept",
                    detail="schedule files have problems: jobs missing from them "
                    "stay scheduled as last defined until the files are fixed",
                )
            self.alerts.problems(problems)
        else:
            self.alerts.problems_fixed()
            self.firer.jobs = jobs
            for job_id in sorted(set(existing) - set(wanted)):
                aps.remove_job(job_id)
                log.info("job_removed", job=job_id)
        for job_id, spec in wanted.items():
            stored = existing.get(job_id)
            if (
                stored is not None
                and stored.kwargs.get("definition") == spec["kwargs"]["definition"]
            ):
                continue
            spec["kwargs"]["since"] = now.isoformat()
            added = aps.add_job(replace_existing=True, **spec)
            log.info(
                "job_scheduled",
                job=job_id,
                robot=jobs[spec["args"][0]].robot,
                next_run=iso(added.next_run_time),
                changed=stored is not None,
            )

    def _snapshot(self) -> tuple[tuple[str, int, int], ...]:
        folder = self.settings.project_dir / "schedules"
        found = []
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    def _since(self, job_id: str) -> datetime | None:
        stored = self._aps.get_job(job_id) if self._aps is not None else None
        since = stored.kwargs.get("since") if stored is not None else None
        return datetime.fromisoformat(since) if since else None

    def _on_event(self, event: JobEvent) -> None:
        """APScheduler could not fire a job: record why (missed or still running)."""
        job = self.firer.jobs.get(event.job_id)
        if job is None:  # a preflight or deadline job
            log.warning("firing_not_run", job=event.job_id, code=event.code)
            return
        firer = self.firer
        if event.code == EVENT_JOB_MISSED:
            due = event.scheduled_run_time
            pause = firer.pauses.get(job.name)
            if pause is not None:  # it would not have run anyway: nothing to tell
                reason = paused_reason(job, pause)
                firer.not_run(job, "schedule", due, reason, tell=False)
                return
            reason = (
                f"missed: due {local(job, due)}, when no scheduler was running; "
                f"more than the misfire grace of {job.misfire_grace_s} s has passed"
            )
            firing = firer.not_run(
                job, "schedule", due, reason, tell=True, status=FiringStatus.MISSED
            )
            self.alerts.firing("missed_firing", job, firing, None)
        else:
            due = event.scheduled_run_times[-1] if event.scheduled_run_times else None
            reason = "skipped: the job's previous firing is still running"
            firer.not_run(job, "schedule", due, reason, tell=False)
