"""Firing a scheduled job: its run, its preflight and its deadline check.

A firing first reads ``schedule_pauses`` (:mod:`._pauses`): a paused job's run
firing is recorded as skipped with who paused it and why, its preflight and
deadline check do not start. Otherwise a firing runs ``rpa run ROBOT --run-id ID``
in a child process (:mod:`._child`) under the job's maximum run time, once per input
file, and is recorded in ``schedule_firings`` (:mod:`._firings`) with how its run
ended (:func:`classify`). A firing that needs attention goes to the notifiers
(:mod:`._alerts`). Firings left ``running`` by a scheduler that died are closed
before the robot runs again.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import Engine

from robotlib.engine import dead_run_counts, new_run_id
from robotlib.fleet import AgentStore, GoneAgents
from robotlib.processes import rpa_command
from robotlib.project import Project
from robotlib.queue.base import utc_now
from robotlib.queue.models import Outcome, Run, RunStatus
from robotlib.queue.sqlalchemy import SqlAlchemyBackend
from robotlib.schedule import Job
from robotlib.scheduler._alerts import Alerts, counts_text
from robotlib.scheduler._child import ChildResult, run_child
from robotlib.scheduler._firings import Firing, FiringStatus, FiringStore
from robotlib.scheduler._inbox import file_away, json_report
from robotlib.scheduler._jobs import (
    iso,
    latest_fire_time,
    local,
    next_fire_time,
    paused_reason,
)
from robotlib.scheduler._pauses import PAUSED_PREFIX, PauseStore
from robotlib.settings import Settings

__all__ = ["Firer", "classify", "input_files"]

log = structlog.get_logger("robotlib.scheduler")

#: Run statuses of a run that ran to its end (failed items or not).
_RAN_TO_END = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_FAILURES)


class Firer:
    """Fires jobs' runs, preflights and deadline checks, and records each.

    Args:
        project: the project whose robots run.
        engine: its database.
        alerts: where firings that need attention are told.
        stop: set to stop the runs started by hand (``run_now``).
        halt: set to stop the runs the schedule started (the lock was lost).
        leader: whether this process may still fire (it holds the lock).
        term_grace_s: at a run's time limit, how long SIGTERM has before the kill.
        clock: the current time (UTC); tests pass a fake.
    """

    def __init__(
        self,
        project: Project,
        *,
        engine: Engine,
        alerts: Alerts,
        stop: threading.Event,
        halt: threading.Event,
        leader: Callable[[], bool] = lambda: True,
        term_grace_s: float = 60.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings: Settings = project.settings
        self.backend = SqlAlchemyBackend(engine)
        self.firings = FiringStore(engine)
        self.agents = AgentStore(engine, clock=clock or utc_now)
        #: Marks agents that stopped beating offline and tells (the daemon asks too).
        self.gone = GoneAgents(self.agents, alerts.notifiers)
        self.pauses = PauseStore(engine)
        self.alerts = alerts
        self.stop = stop
        self.halt = halt
        self.leader = leader
        self.term_grace_s = term_grace_s
        self.clock = clock or utc_now
        #: The jobs this process fires, by name (the daemon keeps them in sync).
        self.jobs: dict[str, Job] = {}
        #: When each APScheduler job was (re)scheduled: deadlines before don't count.
        self.since: Callable[[str], datetime | None] = lambda _job_id: None

    # Runs ----------------------------------------------------------------------------

    def fire_scheduled(self, name: str) -> None:
        """A job's trigger fired: run its robot, if this is still the active one."""
        job = self.jobs.get(name)
        if job is None:  # stored, but neither in the files nor readable from store
            log.error("firing_unknown_job", job=name, detail="see `rpa check`")
            return
        if not self.leader():
            log.warning("firing_dropped", job=name, reason="the lock was lost")
            return
        scheduled_for = latest_fire_time(job, self.clock())
        pause = self.pauses.get(name)  # read at each firing: paused from anywhere
        if pause is not None:
            reason = paused_reason(job, pause)
            self.not_run(job, "schedule", scheduled_for, reason, tell=False)
            return
        self.fire(job, trigger="schedule", scheduled_for=scheduled_for)

    def fire(
        self, job: Job, *, trigger: str, scheduled_for: datetime | None
    ) -> list[Firing]:
        """Run the job's robot once per input file, each in a child process."""
        inputs = input_files(self.settings.project_dir, job)
        if not inputs and job.watch:  # an empty inbox: nothing to do, nothing to say
            log.debug("watch_empty", job=job.name)
            return []
        if not inputs:
            reason = f"no input file matches {job.input!r}"
            firing = self.not_run(job, trigger, scheduled_for, reason, tell=True)
            self.alerts.firing("no_input", job, firing, None)
            return [firing]
        limit = job.max_run_time_minutes
        ends = self.clock() + timedelta(minutes=limit) if limit is not None else None
        done: list[Firing] = []
        for path in inputs:
            left = None if ends is None else (ends - self.clock()).total_seconds()
            firing = self._fire_one(job, path, trigger, scheduled_for, left)
            done.append(firing)
            if firing.status != FiringStatus.COMPLETED:
                break
        return done

    def not_run(
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

    def _fire_one(
        self,
        job: Job,
        path: Path | None,
        trigger: str,
        scheduled_for: datetime | None,
        time_left_s: float | None,
    ) -> Firing:
        self._close_stale(job)
        run_id = new_run_id(self.clock())
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
                f"run {firing.run_id}, started {iso(firing.started_at)})"
            )
            return self.not_run(job, trigger, scheduled_for, reason, tell=False)
        args = ["run", job.robot, "--run-id", run_id]
        self.gone.check()
        fleet = bool(self.agents.live_for(job.robot))
        if job.workers > 1 or fleet:
            args += ["--workers", str(job.workers)]
        if fleet:  # the agents share its items; `workers` slots across them
            args += ["--fleet"]
        if path is not None:
            args += ["--input", str(path)]
        args += ["--stable-for", f"{self.settings.input_stable_s:g}"]
        if job.watch:
            args += ["--json"]  # what the run did with the file: filed away after
        log.info(
            "firing_started",
            job=job.name,
            robot=job.robot,
            run_id=run_id,
            trigger=trigger,
            scheduled_for=iso(scheduled_for),
            input=str(path) if path else None,
            fleet=fleet,
        )
        output = self.settings.logs / job.robot / run_id / "output.log"
        result = run_child(
            rpa_command(self.settings.project_dir, *args),
            output=output,
            time_limit_s=max(time_left_s, 1.0) if time_left_s is not None else None,
            term_grace_s=self.term_grace_s,
            stop=self.halt if trigger == "schedule" else self.stop,
            env=self._child_environment(),
        )
        finished = self._finish(job, firing, run_id, result)
        if job.watch and path is not None:
            printed = output.read_text("utf-8", "replace") if output.exists() else ""
            file_away(path, json_report(printed), job.local(self.clock()).date())
        return finished

    def _finish(
        self, job: Job, firing: Firing, run_id: str, result: ChildResult
    ) -> Firing:
        run = self._run(run_id)
        if run is not None and run.status is RunStatus.RUNNING:
            # killed, or ended without recording it: its counts from its items
            killed = result.timed_out or result.stopped
            run = self.backend.finish_run(
                run_id,
                status=RunStatus.STOPPED if killed else RunStatus.CRASHED,
                counts=dead_run_counts(self.backend, run.robot, run.id),
                note=f"killed: {_why_stopped(job, result)}"
                if killed
                else f"the run's process ended with exit code {result.exit_code} "
                "without recording its end",
            )
        status, attention, kind = classify(job, run, result, self.settings)
        finished = self.firings.finish(
            firing.id,
            status=status,
            exit_code=result.exit_code,
            note=counts_text(run.counts) if run is not None else "",
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
            self.alerts.firing(kind, job, finished, run)
        return finished

    def _close_stale(self, job: Job) -> None:
        """Close running firings of the robot whose scheduler is gone.

        A scheduler that was killed leaves its firings ``running``; its robot may
        have finished meanwhile (then the run record says how), or may be past any
        time limit. Such a firing would otherwise keep the robot from running.
        """
        now = self.clock()
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
                timedelta(minutes=limit, seconds=self.term_grace_s + 600)
                if limit is not None
                else timedelta(hours=24)
            )
            if now - firing.started_at > allowed:
                note = (
                    f"closed: running since {iso(firing.started_at)}, longer than its "
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

    # Preflight and deadline ----------------------------------------------------------

    def preflight_scheduled(self, name: str) -> None:
        """Run job ``name``'s preflight in a child process; notify on failure."""
        job = self.jobs.get(name)
        if job is None or not self.leader():
            return
        pause = self.pauses.get(name)
        if pause is not None:
            log.info("preflight_skipped", job=name, reason=paused_reason(job, pause))
            return
        firing, started = self.firings.start(
            job=job.name,
            robot=job.robot,
            kind="preflight",
            trigger="schedule",
            scheduled_for=next_fire_time(job, self.clock()),
        )
        if not started:
            return
        log.info("preflight_fired", job=job.name, robot=job.robot)
        lead_s = (job.preflight_minutes_before or 1) * 60
        result = run_child(
            rpa_command(self.settings.project_dir, "preflight", job.robot, "--json"),
            output=self.settings.state_dir / "firings" / f"{firing.id}.log",
            time_limit_s=max(lead_s, 30.0),
            term_grace_s=min(self.term_grace_s, 10.0),
            stop=self.halt,
            env=self._child_environment(),
        )
        report = json_report(result.output_tail) or {}
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
            self.alerts.firing("preflight_failed", job, finished, None)

    def deadline_check(self, name: str) -> None:
        """Tell the notifiers when job ``name``'s run did not complete in time."""
        job = self.jobs.get(name)
        if job is None or job.deadline is None or not self.leader():
            return
        pause = self.pauses.get(name)
        if pause is not None:
            log.info("deadline_skipped", job=name, reason=paused_reason(job, pause))
            return
        trigger = job.deadline_trigger()
        fire_time = trigger.run_for(self.clock())
        since = self.since(name)
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
            log.info("deadline_met", job=job.name, deadline=iso(deadline))
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
            f"{local(job, fire_time)}: {state})"
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
        log.warning("deadline_missed", job=job.name, deadline=iso(deadline))
        self.alerts.firing("deadline_missed", job, firing, None)


def classify(
    job: Job, run: Run | None, result: ChildResult, settings: Settings
) -> tuple[str, str | None, str]:
    """How a firing ended: its status, why it needs attention (or None), and the
    kind of notification that says so."""
    if result.timed_out or result.stopped:
        status = FiringStatus.TIMED_OUT if result.timed_out else FiringStatus.STOPPED
        kind = "time_limit" if result.timed_out else "run_stopped"
        return status, f"the run was {_why_stopped(job, result)}", kind
    if run is None:
        last = result.output_tail.strip().splitlines()[-1:] or ["no output"]
        why = f"the run did not start (exit code {result.exit_code}): {last[0]}"
        return FiringStatus.FAILED, why, "run_stopped"
    if run.status not in _RAN_TO_END:  # stopped, or crashed (it said, or we did)
        reason = run.note or "no reason recorded"
        return FiringStatus.STOPPED, f"the run {run.status}: {reason}", "run_stopped"
    attention: str | None = None
    kind = "run_stopped"
    exceptions = run.counts.get(Outcome.BUSINESS_EXCEPTION, 0)
    threshold = (
        job.business_exception_threshold
        if job.business_exception_threshold is not None
        else settings.notify.business_exception_threshold
    )
    if exceptions > threshold:
        attention = (
            f"{exceptions} business exceptions, more than the threshold of "
            f"{threshold}: see `rpa exceptions {job.robot}`"
        )
        kind = "business_exceptions"
    if run.status is RunStatus.COMPLETED_WITH_FAILURES:
        # the run decided with the same settings; failed items come first
        failed = run.counts.get(Outcome.FAILED, 0)
        limit = settings.notify.failed_item_threshold
        first = (
            f"{failed} failed items, more than the threshold of "
            f"{limit}: see `rpa exceptions {job.robot}`"
        )
        attention = "; ".join(filter(None, (first, attention)))
        kind = "failed_items"
    return FiringStatus.COMPLETED, attention, kind


def input_files(project_dir: Path, job: Job) -> list[Path | None]:
    """The input files of a firing: one path, every match of a glob (Excel's
    ``~$`` owner files left out), or None for a job without input."""
    if job.input is None:
        return [None]
    pattern = project_dir / job.input
    if glob.has_magic(job.input):
        matches = [Path(match) for match in sorted(glob.glob(str(pattern)))]
        locks = [path for path in matches if path.name.startswith("~$")]
        for lock in locks:
            # Excel's owner file: it exists while someone has the workbook open.
            log.info("input_lock_file_skipped", job=job.name, file=lock.name)
        return [
            path
            for path in matches
            if path not in locks and not (job.watch and _filed_away(path, pattern))
        ]
    return [pattern] if pattern.exists() else []


def _filed_away(path: Path, pattern: Path) -> bool:
    """Whether a watched file is in a processed/ or rejected/ folder already
    (below the glob's fixed part)."""
    base = pattern
    while glob.has_magic(str(base)):
        base = base.parent
    try:
        folders = path.relative_to(base).parts[:-1]
    except ValueError:
        return False
    return bool({"processed", "rejected"} & set(folders))


def _why_stopped(job: Job, result: ChildResult) -> str:
    if result.timed_out:
        return f"stopped at its maximum run time of {job.max_run_time_minutes:g} min"
    return "stopped because the scheduler was stopped"
