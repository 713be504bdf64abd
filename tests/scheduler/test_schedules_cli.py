"""`rpa schedules`, file sync, preflight before a batch and the deadline alarm."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner, Result

from robotlib.cli import app
from robotlib.db.schema import schedule_firings
from robotlib.project import Project
from robotlib.schedule import DeadlineTrigger, Job
from robotlib.scheduler import FiringStore, Scheduler
from robotlib.scheduler._lock import LeaseLock
from robotlib.settings import load_settings

TWO_JOBS = """\
[jobs.nightly]
robot = "slow"
cron = "0 2 * * mon-fri"
description = "The nightly batch."

[jobs.often]
robot = "slow"
interval_minutes = 0.5
"""


@pytest.fixture
def rpa(project: Path) -> Callable[..., Result]:
    """Run ``rpa --project PROJECT ARGS``."""

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["--project", str(project), *args])

    return invoke


def test_schedules_lists_next_fire_times_and_last_outcomes(
    write_schedule: Callable[[str], Path], rpa: Callable[..., Result]
) -> None:
    """Local next fire times; after a run-now, its outcome and run id."""
    write_schedule(TWO_JOBS)

    before = rpa("schedules", "--json")
    fired = rpa("schedules", "run-now", "nightly")
    after = rpa("schedules", "--count", "2")
    listed = json.loads(rpa("schedules", "--json").output)

    assert before.exit_code == 0, before.output
    jobs = {job["job"]: job for job in json.loads(before.output)["jobs"]}
    assert set(jobs) == {"nightly", "often"}
    next_run = datetime.fromisoformat(jobs["nightly"]["next_runs"][0])
    assert next_run.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    assert (next_run.hour, next_run.minute, next_run.weekday() < 5) == (2, 0, True)
    assert jobs["nightly"]["last"] is None
    assert fired.exit_code == 0, fired.output
    assert "Job nightly: completed" in fired.output
    assert "never fired" in after.output
    assert "completed" in after.output
    assert "No scheduler is active." in after.output
    last = {job["job"]: job for job in listed["jobs"]}["nightly"]["last"]
    assert last["status"] == "completed"
    assert last["run_id"]


def test_run_now_of_an_unknown_job_names_the_jobs(
    write_schedule: Callable[[str], Path], rpa: Callable[..., Result]
) -> None:
    """Exit 2 and the jobs there are."""
    write_schedule(TWO_JOBS)

    result = rpa("schedules", "run-now", "nigthly")

    assert result.exit_code == 2
    assert "no valid scheduled job 'nigthly' (jobs: nightly, often)" in result.output


def test_schedules_shows_problems_of_the_files(
    write_schedule: Callable[[str], Path], rpa: Callable[..., Result]
) -> None:
    """A broken job is reported with file and line; the good one is listed."""
    write_schedule(TWO_JOBS + '\n[jobs.broken]\nrobot = "slow"\ncron = "0 25 * * *"\n')

    result = rpa("schedules")

    assert result.exit_code == 0, result.output
    assert "often" in result.output
    assert "test.toml:12: job 'broken': cron: invalid cron '0 25 * * *'" in (
        result.output
    )


def test_the_scheduler_follows_changes_to_the_schedule_files(
    project: Path,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    wait_for: Callable[..., Any],
    scheduler_events: Callable[[], list[dict[str, Any]]],
) -> None:
    """Removed jobs disappear, added ones appear; a broken file removes nothing."""
    path = write_schedule(TWO_JOBS)
    scheduler = schedulers.start()

    def scheduled() -> set[str]:
        return {e["job"] for e in scheduler_events() if e["event"] == "job_scheduled"}

    wait_for(lambda: scheduled() == {"nightly", "often"}, 30, "both jobs stored")
    path.write_text(TWO_JOBS.split("[jobs.often]")[0] + "# often removed\n", "utf-8")

    def removed() -> list[str]:
        return [e["job"] for e in scheduler_events() if e["event"] == "job_removed"]

    wait_for(lambda: removed() == ["often"], 30, "the removed job to go")
    path.write_text("[jobs.nightly\n", "utf-8")  # invalid TOML

    def problems() -> list[str]:
        return [
            e["problem"] for e in scheduler_events() if e["event"] == "schedule_problem"
        ]

    wait_for(problems, 30, "the broken file to be reported")
    (project / "schedules" / "more.toml").write_text(
        '[jobs.added]\nrobot = "slow"\ncron = "30 5 * * *"\n', "utf-8"
    )
    wait_for(lambda: "added" in scheduled(), 30, "the added job")
    schedulers.stop(scheduler)

    assert "invalid TOML" in problems()[0]
    assert removed() == ["often"], "nothing removed while a file had problems"
    kept = [e for e in scheduler_events() if e["event"] == "schedule_jobs_kept"]
    assert kept or removed() == ["often"]


def test_a_scheduled_preflight_that_fails_is_recorded_and_notified(
    project: Path,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    firings: FiringStore,
    notified: Callable[[], list[dict[str, Any]]],
    wait_for: Callable[..., Any],
) -> None:
    """The preflight runs ahead of the batch; its failure reaches the notifiers."""
    (project / "preflight-fails").write_text("", "utf-8")
    write_schedule(
        """\
[jobs.checked]
robot = "slow"
interval_minutes = 0.1             # 6 s
preflight_minutes_before = 0.05    # 3 s ahead
"""
    )
    scheduler = schedulers.start()

    firing = wait_for(
        lambda: [
            f for f in firings.find(job="checked", kind="preflight") if f.finished_at
        ],
        60,
        "a finished preflight",
    )[0]
    schedulers.stop(scheduler)

    assert firing.status == "failed"
    assert "the button 'Register lab result' is gone" in (firing.attention or "")
    assert "preflight_failed" in [n["kind"] for n in notified()]


def test_a_run_not_done_by_its_deadline_is_notified_once_done_is_not(
    project: Path, firings: FiringStore, notified: Callable[[], list[dict[str, Any]]]
) -> None:
    """The deadline check alarms once when no run completed in time, else not."""
    now = datetime.now(UTC).astimezone()
    deadline = (now - timedelta(minutes=1)).time().replace(second=0, microsecond=0)
    late, on_time = (
        Job(
            name=name,
            file=project / "schedules" / "test.toml",
            robot=robot,
            cron="* * * * *",
            deadline=deadline,
        )
        for name, robot in (("late", "slow"), ("on_time", "other"))
    )
    fire_time = on_time.deadline_trigger().run_for(datetime.now(UTC))
    assert fire_time is not None
    done, _ = firings.start(
        job="on_time", robot="other", kind="run", trigger="schedule", scheduled_for=None
    )
    firings.finish(done.id, status="completed", exit_code=0, note="", attention=None)
    with firings.engine.begin() as conn:  # it ran between fire time and deadline
        conn.execute(
            update(schedule_firings)
            .where(schedule_firings.c.id == done.id)
            .values(
                started_at=fire_time + timedelta(seconds=1),
                finished_at=fire_time + timedelta(seconds=20),
            )
        )
    service = Scheduler(Project(load_settings(project)))
    lock = LeaseLock(service.engine, ttl=timedelta(seconds=30))
    assert lock.acquire()
    service._lock = lock
    service.firer.jobs = {"late": late, "on_time": on_time}

    service.firer.deadline_check("late")
    service.firer.deadline_check("late")
    service.firer.deadline_check("on_time")
    service.close()

    (alarm,) = firings.find(job="late", kind="deadline")
    assert alarm.status == "missed"
    assert f"not completed by {deadline:%H:%M}" in (alarm.attention or "")
    assert "no run started" in (alarm.attention or "")
    assert firings.find(job="on_time", kind="deadline") == []
    assert [n["job"] for n in notified()] == ["late"]
    assert notified()[0]["kind"] == "deadline_missed"


def test_a_deadline_fires_at_the_first_deadline_time_after_each_run() -> None:
    """02:00 runs with a 06:30 deadline: checked at 06:30 the same morning."""
    job = Job(
        name="nightly",
        file=Path("s.toml"),
        robot="slow",
        cron="0 2 * * mon-fri",
        deadline=time(6, 30),
    )
    trigger: DeadlineTrigger = job.deadline_trigger()
    friday_noon = datetime(2026, 12, 4, 12, tzinfo=job.zone)

    first = trigger.get_next_fire_time(None, friday_noon)
    second = trigger.get_next_fire_time(first, first)

    assert first == datetime(2026, 12, 7, 6, 30, tzinfo=job.zone)  # Monday
    assert second == datetime(2026, 12, 8, 6, 30, tzinfo=job.zone)
    assert trigger.run_for(first) == datetime(2026, 12, 7, 2, tzinfo=job.zone)
