"""A project's scheduled jobs as APScheduler stores them, and as people read them.

Each job of ``schedules/*.toml`` is up to three APScheduler jobs in the project
database (table ``scheduler_jobs``): its run, its preflight (``<name>:preflight``)
and its deadline check (``<name>:deadline``). Their functions are text references to
:mod:`robotlib.scheduler._service`'s entry points, which stored rows name, so they
stay there. Stored rows are read through APScheduler's own job store, never
unpickled by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.sqlalchemy import (  # type: ignore[import-untyped]
    SQLAlchemyJobStore,
)
from sqlalchemy import Engine, inspect

from robotlib.discovery import Problem
from robotlib.errors import ConfigurationError
from robotlib.project import Project
from robotlib.schedule import Job, check_schedules, load_schedules, next_fire_times
from robotlib.scheduler._pauses import Pause

__all__ = [
    "DEADLINE",
    "JOBS_TABLE",
    "PREFLIGHT",
    "fingerprint",
    "iso",
    "job_store",
    "latest_fire_time",
    "load_jobs",
    "local",
    "next_fire_time",
    "paused_reason",
    "specs",
    "stored_definitions",
    "stored_states",
    "valid_job",
]

#: The APScheduler job store's table in the project database.
JOBS_TABLE = "scheduler_jobs"
PREFLIGHT = ":preflight"
DEADLINE = ":deadline"
#: Where the functions stored jobs call live (a stored row names this path).
_ENTRY_POINTS = "robotlib.scheduler._service"


def job_store(engine: Engine) -> Any:
    """APScheduler's job store on the project database."""
    return SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)


def load_jobs(project: Project) -> tuple[dict[str, Job], list[Problem]]:
    """The valid jobs of ``schedules/*.toml``, and the problems found."""
    jobs, problems = load_schedules(project.settings.project_dir / "schedules")
    robots, _robot_problems = project.robots()
    problems += check_schedules(jobs, robots)
    return {job.name: job for job in jobs if job.robot in robots}, problems


def valid_job(project: Project, name: str) -> Job:
    """The valid job ``name``; ConfigurationError (listing the jobs) if none."""
    jobs, _problems = load_jobs(project)
    job = jobs.get(name)
    if job is None:
        known = ", ".join(sorted(jobs)) or "none"
        raise ConfigurationError(
            f"no valid scheduled job {name!r} (jobs: {known}); see `rpa check`"
        )
    return job


def stored_states(engine: Engine) -> dict[str, dict[str, Any]]:
    """The job store's jobs: id → their definition and next run time, if any.

    Read through APScheduler's job store (a row it cannot restore it drops, as the
    active scheduler would); no table yet means no stored jobs.
    """
    if JOBS_TABLE not in inspect(engine).get_table_names():
        return {}
    return {
        job.id: {
            "definition": job.kwargs.get("definition"),
            "next_run_time": job.next_run_time,
        }
        for job in job_store(engine).get_all_jobs()
    }


def specs(job: Job, now: datetime) -> list[dict[str, Any]]:
    """The APScheduler jobs of one scheduled job: the run, its preflight, deadline."""
    definition = fingerprint(job)
    base: dict[str, Any] = {
        "args": [job.name],
        # The whole definition too: while its file has problems, a restarted
        # scheduler fires the job as it was last defined.
        "kwargs": {"definition": definition, "job": job.model_dump(mode="json")},
        "max_instances": 1,
        "name": f"{job.robot}: {job.description}" if job.description else job.robot,
    }
    found = [
        {
            **base,
            "id": job.name,
            "func": f"{_ENTRY_POINTS}:fire_run",
            "trigger": job.trigger(start=now),
            "misfire_grace_time": job.misfire_grace_s,
            "coalesce": job.coalesce,
            **({} if job.enabled else {"next_run_time": None}),
        }
    ]
    if not job.enabled:
        return found
    if job.preflight_minutes_before is not None:
        found.append(
            {
                **base,
                "kwargs": dict(base["kwargs"]),
                "id": job.name + PREFLIGHT,
                "func": f"{_ENTRY_POINTS}:fire_preflight",
                "trigger": job.preflight_trigger(start=now),
                "misfire_grace_time": max(1, int(job.preflight_minutes_before * 30)),
                "coalesce": True,
            }
        )
    if job.deadline is not None:
        found.append(
            {
                **base,
                "kwargs": dict(base["kwargs"]),
                "id": job.name + DEADLINE,
                "func": f"{_ENTRY_POINTS}:check_deadline",
                "trigger": job.deadline_trigger(),
                "misfire_grace_time": 12 * 3600,
                "coalesce": True,
            }
        )
    return found


def fingerprint(job: Job) -> str:
    """What identifies a job's definition: everything but where it is written."""
    text = job.model_dump_json(exclude={"file", "line", "description"})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stored_definitions(stored: Iterable[Any]) -> dict[str, Job]:
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


def latest_fire_time(job: Job, now: datetime) -> datetime | None:
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


def next_fire_time(job: Job, now: datetime) -> datetime | None:
    """The run a preflight firing now comes ahead of (cron jobs; None otherwise)."""
    if job.cron is None:
        return None
    upcoming = next_fire_times(job, after=now, count=1)
    return upcoming[0].astimezone(UTC) if upcoming else None


def paused_reason(job: Job, pause: Pause) -> str:
    """Why a paused job's firing did not run, with the time in the job's zone."""
    return pause.reason(local(job, pause.paused_at))


def local(job: Job, moment: datetime | None) -> str:
    """``moment`` in the job's time zone, as notifications and notes show it."""
    return "" if moment is None else f"{job.local(moment):%Y-%m-%d %H:%M %Z}"


def iso(moment: datetime | None) -> str | None:
    """``moment`` as ISO 8601 for a log event, or None."""
    return moment.isoformat() if moment is not None else None
