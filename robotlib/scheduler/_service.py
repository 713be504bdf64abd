"""The scheduler: fires a project's scheduled jobs, one active per database.

``Scheduler.serve`` loops until stopped:

1. **Standby** until it holds the scheduler lock (:mod:`._lock`); it logs who holds
   it instead.
2. **Active**: an APScheduler 3 ``BackgroundScheduler`` with its job store in the
   project database (table ``scheduler_jobs``). It starts paused, the jobs are
   synced from ``schedules/*.toml``, then it resumes: firings missed while no
   scheduler was active are run once (``coalesce``) or several times, or, past the
   job's ``misfire_grace_s``, recorded as missed. Every poll it renews the lock and
   re-syncs when a schedule file changed; a lost lock sends it back to standby.

A job whose definition has not changed keeps its stored next run time across
restarts; that is what lets missed firings be noticed. Each firing first reads
``schedule_pauses`` (:mod:`._pauses`): a paused job's run firing is recorded as
skipped with who paused it and why, its preflight and deadline check do not start.
Otherwise a firing runs
``rpa run ROBOT --run-id ID`` in a child process (:mod:`._child`) under the job's
maximum run time, and is recorded in ``schedule_firings`` (:mod:`._firings`). A
firing that needs attention goes to the notifiers (:mod:`robotlib.notify`).

APScheduler stores a job's function as a text reference, so the stored jobs point
at the module functions :func:`fire_run`, :func:`fire_preflight` and
:func:`check_deadline`, which call the process's active :class:`Scheduler`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pickle
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
from apscheduler.jobstores.sqlalchemy import (  # type: ignore[import-untyped]
    SQLAlchemyJobStore,
)
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from sqlalchemy import Engine, column, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError

from robotlib.db import database_engine
from robotlib.discovery import Problem
from robotlib.engine import new_run_id
from robotlib.errors import ConfigurationError
from robotlib.notify import Notification, Notifier, build_notifiers, send_all
from robotlib.processes import rpa_command
from robotlib.project import Project
from robotlib.queue.models import Run, RunStatus
from robotlib.queue.sqlalchemy import SqlAlchemyBackend
from robotlib.schedule import Job, check_schedules, load_schedules, next_fire_times
from robotlib.scheduler._child import ChildResult, run_child
from robotlib.scheduler._firings import Firing, FiringStatus, FiringStore
from robotlib.scheduler._lock import (
    LockHolder,
    SchedulerLock,
    current_holder,
    open_lock,
)
from robotlib.scheduler._pauses import PAUSED_PREFIX, Pause, PauseStore

__all__ = [
    "JOBS_TABLE",
    "JobStatus",
    "Scheduler",
    "SchedulerOptions",
    "check_deadline",
    "fire_preflight",
    "fire_run",
]

log = structlog.get_logger("robotlib.scheduler")

#: The APScheduler job store's table in the project database.
JOBS_TABLE = "scheduler_jobs"
PREFLIGHT = ":preflight"
DEADLINE = ":deadline"
#: Run statuses of a run that ran to its end (failed items or not).
_RAN_TO_END = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_FAILURES)
#: The run count a notification of each kind is about.
_COUNTED = {"failed_items": "failed", "business_exceptions": "business_exception"}

_active_lock = threading.Lock()
_active: Scheduler | None = None


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


# The functions APScheduler stores a text reference to ------------------------------


def fire_run(name: str, **_definition: Any) -> None:
    """Fire job ``name``'s robot (called by APScheduler)."""
    _scheduler().fire_scheduled(name)


def fire_preflight(name: str, **_definition: Any) -> None:
    """Run job ``name``'s preflight (called by APScheduler)."""
    _scheduler().preflight_scheduled(name)


def check_deadline(name: str, **_definition: Any) -> None:
    """Check that job ``name``'s run completed by its deadline (APScheduler)."""
    _scheduler().deadline_check(name)


def _scheduler() -> Scheduler:
    with _active_lock:
        if _active is None:
            raise RuntimeError("no active scheduler in this process")
        return _active


def _set_active(scheduler: Scheduler | None) -> None:
    global _active
    with _active_lock:
        _active = scheduler


class Scheduler:
    """Fires a project's scheduled jobs.

    Args:
        project: the project (its database must be SQL: SQLite or PostgreSQL).
        options: pacing; the defaults suit production.
        notifiers: where attention goes; default: those ``rpa.toml`` configures.

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
    ) -> None:
        self.project = project
        self.settings = project.settings
        self.options = options or SchedulerOptions()
        if self.settings.database.startswith("memory:"):
            raise ConfigurationError(
                "the scheduler needs a database (SQLite or PostgreSQL), not memory://"
            )
        self.engine: Engine = database_engine(self.settings.database)
        self.backend = SqlAlchemyBackend(self.engine)
        self.firings = FiringStore(self.engine)
        self.pauses = PauseStore(self.engine)
        self.notifiers = (
            list(notifiers)
            if notifiers is not None
            else build_notifiers(self.settings, project.credentials)
        )
        self.stop = threading.Event()
        self.jobs: dict[str, Job] = {}
        self._halt = threading.Event()
        self._lock: SchedulerLock | None = None
        self._aps: Any = None
        self._files: tuple[tuple[str, int, int], ...] | None = None
        self._problems_told: tuple[str, ...] = ()

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # Serving -------------------------------------------------------------------------

    def serve(self) -> None:
        """Wait for the lock and fire jobs while holding it, until ``stop`` is set."""
        lock = open_lock(self.engine, ttl=timedelta(seconds=self.options.lock_ttl_s))
        announced: LockHolder | str | None = "nobody yet"
        log.info("scheduler_started", lock=lock.kind, database=self._where())
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
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)
            },
            executors={"default": ThreadPoolExecutor(self.options.max_parallel)},
            timezone=UTC,
        )
        aps.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        _set_active(self)
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
        except SQLAlchemyError as exc:
            log.error("database_unavailable", error=str(exc).splitlines()[0])
        finally:
            self._halt.set()
            if aps.running:
                aps.shutdown(wait=True)
            self._aps = None
            self._lock = None
            _set_active(None)

    def _still_leader(self) -> bool:
        return self._lock is not None and not self._halt.is_set() and self._lock.renew()

    # Jobs ----------------------------------------------------------------------------

    def load_jobs(self) -> tuple[dict[str, Job], list[Problem]]:
        """The valid jobs of ``schedules/*.toml``, and the problems found."""
        jobs, problems = load_schedules(self.settings.project_dir / "schedules")
        robots, _robot_problems = self.project.robots()
        problems += check_schedules(jobs, robots)
        return {job.name: job for job in jobs if job.robot in robots}, problems

    def sync(self) -> None:
        """Make the stored jobs match the schedule files.

        New and changed jobs are (re)scheduled; unchanged ones keep their next run
        time. Jobs no longer in the files are removed, unless a file has problems:
        then every stored job stays as it was until the files are fixed.
        """
        self._files = self._snapshot()
        jobs, problems = self.load_jobs()
        for problem in problems:
            log.error("schedule_problem", problem=str(problem))
        aps = self._aps
        existing = {job.id: job for job in aps.get_jobs()}
        wanted = {spec["id"]: spec for job in jobs.values() for spec in _specs(job)}
        if problems:
            kept = _stored_definitions(existing.values())
            self.jobs = {**kept, **self.jobs, **jobs}
            if set(existing) - set(wanted):
                log.warning(
                    "schedule_jobs_kept",
                    detail="schedule files have problems: jobs missing from them "
                    "stay scheduled as last defined until the files are fixed",
                )
            self._notify_problems(problems)
        else:
            self._problems_told = ()
            self.jobs = jobs
            for job_id in sorted(set(existing) - set(wanted)):
                aps.remove_job(job_id)
                log.info("job_removed", job=job_id)
        now = datetime.now(UTC)
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
                next_run=_iso(added.next_run_time),
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

    # Firing --------------------------------------------------------------------------

    def fire_scheduled(self, name: str) -> None:
        """A job's trigger fired: run its robot, if this is still the active one."""
        job = self.jobs.get(name)
        if job is None:  # stored, but neither in the files nor readable from store
            log.error("firing_unknown_job", job=name, detail="see `rpa check`")
            return
        if not self._still_leader():
            log.warning("firing_dropped", job=name, reason="the lock was lost")
            return
        scheduled_for = _latest_fire_time(job, datetime.now(UTC))
        pause = self.pauses.get(name)  # read at each firing: paused from anywhere
        if pause is not None:
            reason = _paused_reason(job, pause)
            self._not_run(job, "schedule", scheduled_for, reason, tell=False)
            return
        self.fire(job, trigger="schedule", scheduled_for=scheduled_for)

    def run_now(self, name: str) -> list[Firing]:
        """Fire job ``name`` at once, in this process (``rpa schedules run-now``).

        A paused job runs too: firing it by hand is an operator's explicit action.
        """
        job = self._valid_job(name)
        return self.fire(job, trigger="run-now", scheduled_for=None)

    def fire(
        self, job: Job, *, trigger: str, scheduled_for: datetime | None
    ) -> list[Firing]:
        """Run the job's robot once per input file, each in a child process."""
        inputs = self._inputs(job)
        if not inputs:
            reason = f"no input file matches {job.input!r}"
            firing = self._not_run(job, trigger, scheduled_for, reason, tell=True)
            self._notify("no_input", job, firing, None)
            return [firing]
        limit = job.max_run_time_minutes
        ends = (
            datetime.now(UTC) + timedelta(minutes=limit) if limit is not None else None
        )
        done: list[Firing] = []
        for path in inputs:
            left = None if ends is None else (ends - datetime.now(UTC)).total_seconds()
            firing = self._fire_one(job, path, trigger, scheduled_for, left)
            done.append(firing)
            if firing.status != FiringStatus.COMPLETED:
                break
        return done

    def _fire_one(
        self,
        job: Job,
        path: Path | None,
        trigger: str,
        scheduled_for: datetime | None,
        time_left_s: float | None,
    ) -> Firing:
        self._close_stale(job)
        run_id = new_run_id(datetime.now(UTC))
        firing, started = self.firings.start(
            job=job.name,
            robot=job.robot,
            kind="run",
            trigger=trigger,
            scheduled_for=scheduled_for,
            run_id=run_id,
        )
        if not started:
            reason = (
                f"robot {job.robot} is running already (job {firing.job}, "
                f"run {firing.run_id}, started {_iso(firing.started_at)})"
            )
            return self._not_run(job, trigger, scheduled_for, reason, tell=False)
        args = ["run", job.robot, "--run-id", run_id]
        if job.workers > 1:
            args += ["--workers", str(job.workers)]
        if path is not None:
            args += ["--input", str(path)]
        args += ["--stable-for", f"{self.settings.input_stable_s:g}"]
        log.info(
            "firing_started",
            job=job.name,
            robot=job.robot,
            run_id=run_id,
            trigger=trigger,
            scheduled_for=_iso(scheduled_for),
            input=str(path) if path else None,
        )
        result = run_child(
            rpa_command(self.settings.project_dir, *args),
            output=self.settings.logs / job.robot / run_id / "output.log",
            time_limit_s=max(time_left_s, 1.0) if time_left_s is not None else None,
            term_grace_s=self.options.term_grace_s,
            stop=self._halt if trigger == "schedule" else self.stop,
            env=self._child_environment(),
        )
        return self._finish(job, firing, run_id, result)

    def _finish(
        self, job: Job, firing: Firing, run_id: str, result: ChildResult
    ) -> Firing:
        run = self._run(run_id)
        attention: str | None = None
        kind = "run_stopped"
        if result.timed_out or result.stopped:
            why = (
                f"stopped at its maximum run time of {job.max_run_time_minutes:g} min"
                if result.timed_out
                else "stopped because the scheduler was stopped"
            )
            if run is not None and run.status is RunStatus.RUNNING:
                run = self.backend.finish_run(
                    run_id,
                    status=RunStatus.STOPPED,
                    counts=self._counts(run),
                    note=f"killed: {why}",
                )
            status = (
                FiringStatus.TIMED_OUT if result.timed_out else FiringStatus.STOPPED
            )
            attention = f"the run was {why}"
            kind = "time_limit" if result.timed_out else "run_stopped"
        elif run is None:
            status = FiringStatus.FAILED
            last = result.output_tail.strip().splitlines()[-1:] or ["no output"]
            attention = (
                f"the run did not start (exit code {result.exit_code}): {last[0]}"
            )
        elif run.status is RunStatus.RUNNING:
            run = self.backend.finish_run(
                run_id,
                status=RunStatus.CRASHED,
                counts=self._counts(run),
                note=f"the run's process ended with exit code {result.exit_code} "
                "without recording its end",
            )
            status, attention = FiringStatus.STOPPED, f"the run crashed: {run.note}"
        elif run.status in _RAN_TO_END:
            status = FiringStatus.COMPLETED
            exceptions = run.counts.get("business_exception", 0)
            threshold = self._threshold(job)
            if exceptions > threshold:
                attention = (
                    f"{exceptions} business exceptions, more than the threshold of "
                    f"{threshold}: see `rpa exceptions {job.robot}`"
                )
                kind = "business_exceptions"
            if run.status is RunStatus.COMPLETED_WITH_FAILURES:
                # the run decided with the same settings; failed items come first
                failed = run.counts.get("failed", 0)
                limit = self.settings.notify.failed_item_threshold
                attention = "; ".join(
                    filter(
                        None,
                        (
                            f"{failed} failed items, more than the threshold of "
                            f"{limit}: see `rpa exceptions {job.robot}`",
                            attention,
                        ),
                    )
                )
                kind = "failed_items"
        else:
            status = FiringStatus.STOPPED
            attention = f"the run {run.status}: {run.note or 'no reason recorded'}"
        note = _counts_text(run.counts) if run is not None else ""
        finished = self.firings.finish(
            firing.id,
            status=status,
            exit_code=result.exit_code,
            note=note,
            attention=attention,
        )
        log.info(
            "firing_finished",
            job=job.name,
            robot=job.robot,
            run_id=run_id,
            status=status,
            exit_code=result.exit_code,
            counts=run.counts if run is not None else {},
            duration_s=round(result.duration_s, 1),
            attention=attention,
        )
        if attention is not None:
            self._notify(kind, job, finished, run)
        return finished

    def _close_stale(self, job: Job) -> None:
        """Close running firings of the robot whose scheduler is gone.

        A scheduler that was killed leaves its firings ``running``; its robot may
        have finished meanwhile (then the run record says how), or may be past any
        time limit. Such a firing would otherwise keep the robot from running.
        """
        now = datetime.now(UTC)
        for firing in self.firings.running(robot=job.robot, kind="run"):
            run = self._run(firing.run_id) if firing.run_id else None
            if run is not None and run.status is not RunStatus.RUNNING:
                log.warning(
                    "firing_closed", job=firing.job, run_id=run.id, run=str(run.status)
                )
                ended = ChildResult(None, False, False, 0.0, "")
                self._finish(self.jobs.get(firing.job, job), firing, run.id, ended)
                continue
            limit = job.max_run_time_minutes
            allowed = (
                timedelta(minutes=limit, seconds=self.options.term_grace_s + 600)
                if limit is not None
                else timedelta(hours=24)
            )
            if now - firing.started_at > allowed:
                note = (
                    f"closed: running since {_iso(firing.started_at)}, longer than its "
                    "time limit allows; the scheduler that started it is gone"
                )
                log.warning("firing_closed", job=firing.job, reason=note)
                self.firings.finish(
                    firing.id,
                    status=FiringStatus.STOPPED,
                    exit_code=None,
                    note=note,
                    attention=note,
                )

    def _inputs(self, job: Job) -> list[Path | None]:
        """The input files of a firing: one path, every match of a glob, or None."""
        if job.input is None:
            return [None]
        pattern = self.settings.project_dir / job.input
        if glob.has_magic(job.input):
            matches = [Path(match) for match in sorted(glob.glob(str(pattern)))]
            locks = [path for path in matches if path.name.startswith("~$")]
            for lock in locks:
                # Excel's owner file: it exists while someone has the workbook open.
                log.info("input_lock_file_skipped", job=job.name, file=lock.name)
            return [path for path in matches if path not in locks]
        return [pattern] if pattern.exists() else []

    def _child_environment(self) -> dict[str, str]:
        """Our environment, with the database and log folder this scheduler uses."""
        env = dict(os.environ)
        env["RPA_DATABASE_URL"] = self.settings.database
        env["RPA_LOG_DIR"] = str(self.settings.logs)
        return env

    def _run(self, run_id: str) -> Run | None:
        try:
            return self.backend.get_run(run_id)
        except KeyError:
            return None

    def _counts(self, run: Run) -> dict[str, int]:
        """A killed run's counts, from its items' states."""
        counts = self.backend.counts(run.robot, run_id=run.id)
        return {str(state): n for state, n in counts.items() if n}

    def _threshold(self, job: Job) -> int:
        if job.business_exception_threshold is not None:
            return job.business_exception_threshold
        return self.settings.notify.business_exception_threshold

    # Preflight and deadline ----------------------------------------------------------

    def preflight_scheduled(self, name: str) -> None:
        """Run job ``name``'s preflight in a child process; notify on failure."""
        job = self.jobs.get(name)
        if job is None or not self._still_leader():
            return
        pause = self.pauses.get(name)
        if pause is not None:
            log.info("preflight_skipped", job=name, reason=_paused_reason(job, pause))
            return
        firing, started = self.firings.start(
            job=job.name,
            robot=job.robot,
            kind="preflight",
            trigger="schedule",
            scheduled_for=_next_fire_time(job, datetime.now(UTC)),
        )
        if not started:
            return
        log.info("preflight_fired", job=job.name, robot=job.robot)
        lead_s = (job.preflight_minutes_before or 1) * 60
        result = run_child(
            rpa_command(self.settings.project_dir, "preflight", job.robot, "--json"),
            output=self.settings.state_dir / "firings" / f"{firing.id}.log",
            time_limit_s=max(lead_s, 30.0),
            term_grace_s=min(self.options.term_grace_s, 10.0),
            stop=self._halt,
            env=self._child_environment(),
        )
        report = _json_report(result.output_tail)
        message = str(report.get("message") or "")
        if result.exit_code == 0:
            status, attention = FiringStatus.COMPLETED, None
        elif result.timed_out:
            status = FiringStatus.FAILED
            attention = f"the preflight did not finish within {lead_s:g} s"
        else:
            status = FiringStatus.FAILED
            last = result.output_tail.strip().splitlines()[-1:] or ["no output"]
            attention = f"the preflight failed: {message or last[0]}"
        finished = self.firings.finish(
            firing.id,
            status=status,
            exit_code=result.exit_code,
            note=str(report.get("log") or ""),
            attention=attention,
        )
        log.info("preflight_finished", job=job.name, status=status, attention=attention)
        if attention is not None:
            self._notify("preflight_failed", job, finished, None)

    def deadline_check(self, name: str) -> None:
        """Tell the notifiers when job ``name``'s run did not complete in time."""
        job = self.jobs.get(name)
        if job is None or job.deadline is None or not self._still_leader():
            return
        pause = self.pauses.get(name)
        if pause is not None:
            log.info("deadline_skipped", job=name, reason=_paused_reason(job, pause))
            return
        trigger = job.deadline_trigger()
        now = datetime.now(UTC)
        fire_time = trigger.run_for(now)
        since = self._since(name)
        if fire_time is None or (since is not None and fire_time < since):
            return
        deadline = trigger.deadline_after(fire_time)
        alarms = self.firings.find(job=job.name, kind="deadline", since=deadline)
        if any(alarm.scheduled_for == fire_time for alarm in alarms):
            return  # told already (a coalesced or repeated check)
        runs = self.firings.find(
            job=job.name, kind="run", since=fire_time - timedelta(seconds=1)
        )
        if any(
            f.status == FiringStatus.COMPLETED
            and f.finished_at is not None
            and f.finished_at <= deadline + timedelta(seconds=1)
            for f in runs
        ):
            log.info("deadline_met", job=job.name, deadline=_iso(deadline))
            return
        if any(
            f.status == FiringStatus.SKIPPED and f.note.startswith(PAUSED_PREFIX)
            for f in runs
        ):  # the run was skipped on purpose; the job was resumed since
            log.info("deadline_skipped", job=job.name, reason="the run was paused")
            return
        state = runs[0].status if runs else "no run started"
        attention = (
            f"not completed by {job.deadline:%H:%M} (the run due "
            f"{_local(job, fire_time)}: {state})"
        )
        firing = self.firings.record(
            job=job.name,
            robot=job.robot,
            kind="deadline",
            trigger="schedule",
            scheduled_for=fire_time,
            status=FiringStatus.MISSED,
            note=attention,
            attention=attention,
        )
        log.warning("deadline_missed", job=job.name, deadline=_iso(deadline))
        self._notify("deadline_missed", job, firing, None)

    def _since(self, job_id: str) -> datetime | None:
        stored = self._aps.get_job(job_id) if self._aps is not None else None
        since = stored.kwargs.get("since") if stored is not None else None
        return datetime.fromisoformat(since) if since else None

    # Events and notifications --------------------------------------------------------

    def _on_event(self, event: JobEvent) -> None:
        """APScheduler could not fire a job: record why (missed or still running)."""
        job = self.jobs.get(event.job_id)
        if job is None:  # a preflight or deadline job
            log.warning("firing_not_run", job=event.job_id, code=event.code)
            return
        if event.code == EVENT_JOB_MISSED:
            due = event.scheduled_run_time
            pause = self.pauses.get(job.name)
            if pause is not None:  # it would not have run anyway: nothing to tell
                reason = _paused_reason(job, pause)
                self._not_run(job, "schedule", due, reason, tell=False)
                return
            reason = (
                f"missed: due {_local(job, due)}, when no scheduler was running; "
                f"more than the misfire grace of {job.misfire_grace_s} s has passed"
            )
            firing = self._not_run(
                job, "schedule", due, reason, tell=True, status=FiringStatus.MISSED
            )
            self._notify("missed_firing", job, firing, None)
        else:
            due = event.scheduled_run_times[-1] if event.scheduled_run_times else None
            reason = "skipped: the job's previous firing is still running"
            self._not_run(job, "schedule", due, reason, tell=False)

    def _not_run(
        self,
        job: Job,
        trigger: str,
        scheduled_for: datetime | None,
        reason: str,
        *,
        tell: bool,
        status: str = FiringStatus.SKIPPED,
    ) -> Firing:
        """Record and log a firing that did not run; ``tell``: it needs attention."""
        event = "firing_missed" if status == FiringStatus.MISSED else "firing_skipped"
        log.warning(event, job=job.name, robot=job.robot, reason=reason)
        return self.firings.record(
            job=job.name,
            robot=job.robot,
            kind="run",
            trigger=trigger,
            scheduled_for=scheduled_for,
            status=status,
            note=reason,
            attention=reason if tell else None,
        )

    def _notify_problems(self, problems: list[Problem]) -> None:
        """Tell the notifiers about schedule file problems, once per set of them."""
        told = tuple(sorted(str(problem) for problem in problems))
        if told == self._problems_told:
            return
        self._problems_told = told
        body = (
            "The scheduler found problems in the schedule files. Jobs missing "
            "from them stay scheduled as last defined until the files are fixed; "
            "run `rpa check` after fixing.\n\n" + "\n".join(told) + "\n"
        )
        send_all(
            self.notifiers,
            Notification(
                kind="schedule_problem",
                subject="robotlib: the schedule files have problems",
                body=body,
            ),
        )

    def _notify(self, kind: str, job: Job, firing: Firing, run: Run | None) -> None:
        subject = f"robotlib: {job.name} ({job.robot}) needs attention: {kind}"
        run_id = run.id if run is not None else firing.run_id
        console = self.settings.console_url
        link = f"{console.rstrip('/')}/runs/{run_id}" if console and run_id else ""
        count = (
            run.counts.get(_COUNTED[kind], 0)
            if run is not None and kind in _COUNTED
            else None
        )
        lines = [
            f"Job: {job.name} ({job.description})" if job.description else "",
            f"Robot: {job.robot}",
            f"Firing: {firing.id}, {firing.kind}, {firing.status}",
            f"Due: {_local(job, firing.scheduled_for)}" if firing.scheduled_for else "",
            f"Reason: {firing.attention}",
        ]
        if run is not None:
            lines += [
                f"Run: {run.id} ({run.status}); {_counts_text(run.counts)}",
                f"Log: {self.settings.logs / run.robot / run.id / 'events.jsonl'}",
                f"Review: rpa runs show {run.id}; rpa exceptions {run.robot}",
            ]
        if link:
            lines.append(f"Console: {link}")
        body = "\n".join(line for line in lines if line) + "\n"
        send_all(
            self.notifiers,
            Notification(
                kind=kind,
                subject=subject,
                body=self.project.redactor.redact(body),
                job=job.name,
                robot=job.robot,
                run_id=run_id,
                count=count,
                link=link,
            ),
        )

    # Pausing -------------------------------------------------------------------------

    def pause(self, name: str, *, actor: str, note: str) -> tuple[Pause, bool]:
        """Pause job ``name`` until resumed, from any process; audited.

        The scheduler reads the pauses at each firing, so the next firing of the
        job is skipped (recorded, with who paused it and why), and its preflights
        and deadline checks do not start. A run in progress is not stopped, and
        ``run_now`` still runs the job. Pausing a paused job changes nothing.

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

        Example:
            >>> scheduler.pause("lab_results_nightly", actor="cli:anna",
            ...                 note="EPJ upgrade tonight")  # doctest: +SKIP
        """
        self._valid_job(name)
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

        Example:
            >>> scheduler.resume(
            ...     "lab_results_nightly", actor="cli:anna"
            ... )  # doctest: +SKIP
        """
        if self.pauses.get(name) is None:
            self._valid_job(name)
        pause = self.pauses.resume(name, actor=actor)
        if pause is None:
            return None
        self.backend.record_audit(
            actor=actor,
            action="schedule_resume",
            note=f"{name}: {pause.reason()}",
        )
        log.info("job_resumed", job=name, actor=actor)
        return pause

    def _valid_job(self, name: str) -> Job:
        jobs, _problems = self.load_jobs()
        job = jobs.get(name)
        if job is None:
            known = ", ".join(sorted(jobs)) or "none"
            raise ConfigurationError(
                f"no valid scheduled job {name!r} (jobs: {known}); see `rpa check`"
            )
        return job

    # Status --------------------------------------------------------------------------

    def status(self, *, count: int = 1) -> tuple[list[JobStatus], list[Problem]]:
        """Each job of the files: its next run times, whether paused, last firing.

        Next run times come from the job store when a scheduler has stored the job
        as the files define it, else they are computed from the files. A job is
        paused when disabled in its file or paused by an operator (``pause``).
        """
        jobs, problems = self.load_jobs()
        stored = self._stored_jobs()
        pauses = self.pauses.all()
        now = datetime.now(UTC)
        found = []
        for job in jobs.values():
            state = stored.get(job.name)
            paused = not job.enabled
            definition = _fingerprint(job)
            if state is not None and state.get("definition") == definition:
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
        if holder is None or holder.expires_at < datetime.now(UTC):
            return None
        return holder

    def _stored_jobs(self) -> dict[str, dict[str, Any]]:
        """The job store's rows: id → definition and next run time, if any."""
        if JOBS_TABLE not in inspect(self.engine).get_table_names():
            return {}
        jobs = table(JOBS_TABLE, column("id"), column("job_state"))
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(jobs.c.id, jobs.c.job_state)):
                try:
                    state = pickle.loads(row.job_state)
                except Exception:  # an unreadable row: show the job from its file
                    continue
                found[row.id] = {
                    "definition": state.get("kwargs", {}).get("definition"),
                    "next_run_time": state.get("next_run_time"),
                }
        return found

    def _where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)


# Private helpers ---------------------------------------------------------------------


def _specs(job: Job) -> list[dict[str, Any]]:
    """The APScheduler jobs of one scheduled job: the run, its preflight, deadline."""
    definition = _fingerprint(job)
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "args": [job.name],
        # The whole definition too: while its file has problems, a restarted
        # scheduler fires the job as it was last defined.
        "kwargs": {"definition": definition, "job": job.model_dump(mode="json")},
        "max_instances": 1,
        "name": f"{job.robot}: {job.description}" if job.description else job.robot,
    }
    specs = [
        {
            **base,
            "id": job.name,
            "func": f"{__name__}:fire_run",
            "trigger": job.trigger(start=now),
            "misfire_grace_time": job.misfire_grace_s,
            "coalesce": job.coalesce,
            **({} if job.enabled else {"next_run_time": None}),
        }
    ]
    if not job.enabled:
        return specs
    if job.preflight_minutes_before is not None:
        specs.append(
            {
                **base,
                "kwargs": dict(base["kwargs"]),
                "id": job.name + PREFLIGHT,
                "func": f"{__name__}:fire_preflight",
                "trigger": job.preflight_trigger(start=now),
                "misfire_grace_time": max(1, int(job.preflight_minutes_before * 30)),
                "coalesce": True,
            }
        )
    if job.deadline is not None:
        specs.append(
            {
                **base,
                "kwargs": dict(base["kwargs"]),
                "id": job.name + DEADLINE,
                "func": f"{__name__}:check_deadline",
                "trigger": job.deadline_trigger(),
                "misfire_grace_time": 12 * 3600,
                "coalesce": True,
            }
        )
    return specs


def _fingerprint(job: Job) -> str:
    """What identifies a job's definition: everything but where it is written."""
    text = job.model_dump_json(exclude={"file", "line", "description"})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _latest_fire_time(job: Job, now: datetime) -> datetime | None:
    """The cron job's fire time being fired now: the latest one within its grace."""
    if job.cron is None:
        return None
    trigger = job.trigger()
    latest: datetime | None = None
    previous: datetime | None = None
    start = now - timedelta(seconds=job.misfire_grace_s + 60)
    while True:
        candidate = trigger.get_next_fire_time(previous, start)
        if candidate is None or candidate > now:
            return latest.astimezone(UTC) if latest is not None else None
        latest = previous = start = candidate


def _next_fire_time(job: Job, now: datetime) -> datetime | None:
    """The run a preflight firing now comes ahead of (cron jobs; None otherwise)."""
    if job.cron is None:
        return None
    upcoming = next_fire_times(job, after=now, count=1)
    return upcoming[0].astimezone(UTC) if upcoming else None


def _stored_definitions(stored: Any) -> dict[str, Job]:
    """The jobs as the job store last had them (their kwargs hold the definition)."""
    found: dict[str, Job] = {}
    for aps_job in stored:
        data = aps_job.kwargs.get("job")
        if aps_job.id != (data or {}).get("name"):
            continue  # a preflight or deadline job, or stored by an older robotlib
        try:
            found[aps_job.id] = Job.model_validate(data)
        except ValueError:
            continue
    return found


def _json_report(output: str) -> dict[str, Any]:
    start = output.find("{")
    if start < 0:
        return {}
    try:
        found = json.loads(output[start:])
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _counts_text(counts: dict[str, int]) -> str:
    return (
        f"done {counts.get('done', 0)}, business exceptions "
        f"{counts.get('business_exception', 0)}, failed {counts.get('failed', 0)}"
    )


def _paused_reason(job: Job, pause: Pause) -> str:
    """Why a paused job's firing did not run, with the time in the job's zone."""
    return pause.reason(_local(job, pause.paused_at))


def _local(job: Job, moment: datetime | None) -> str:
    return "" if moment is None else f"{job.local(moment):%Y-%m-%d %H:%M %Z}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
