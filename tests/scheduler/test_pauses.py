"""Pausing and resuming a scheduled job: the store, the scheduler, the CLI."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from typer.testing import CliRunner, Result

from robotlib.cli import app
from robotlib.errors import ConfigurationError
from robotlib.project import Project
from robotlib.queue import SqlAlchemyBackend
from robotlib.schedule import Job
from robotlib.scheduler import (
    Firing,
    FiringStore,
    PauseStore,
    Scheduler,
    ScheduleService,
)
from robotlib.scheduler._lock import LeaseLock
from robotlib.settings import load_settings

INTERVAL_JOB = """\
[jobs.often]
robot = "slow"
interval_minutes = 0.02    # 1.2 s
misfire_grace_s = 30
"""

TWO_JOBS = """\
[jobs.nightly]
robot = "slow"
cron = "0 2 * * mon-fri"

[jobs.often]
robot = "slow"
interval_minutes = 0.5
"""

NOTE = "EPJ upgrade tonight, ward 3 registers by hand"
CLI_ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def pauses(firings: FiringStore) -> PauseStore:
    """The project's pause records (same database as the firings)."""
    return PauseStore(firings.engine)


@pytest.fixture
def service(project: Path) -> Iterator[ScheduleService]:
    """The schedule service on the project, as the CLI and the console build it."""
    with ScheduleService(Project(load_settings(project))) as opened:
        yield opened


@pytest.fixture
def leading(project: Path) -> Iterator[Scheduler]:
    """A scheduler holding the scheduler lock, so it fires jobs in this process."""
    scheduler = Scheduler(Project(load_settings(project)))
    lock = LeaseLock(scheduler.engine, ttl=timedelta(seconds=60))
    assert lock.acquire()
    scheduler._lock = lock
    yield scheduler
    scheduler.close()


@pytest.fixture
def rpa(project: Path) -> Callable[..., Result]:
    """Run ``rpa --project PROJECT ARGS`` in this process."""

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["--project", str(project), *args])

    return invoke


@pytest.fixture
def rpa_process(project: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``rpa --project PROJECT ARGS`` in a process of its own, like an operator."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "robotlib.cli", "--project", str(project)]
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=120, check=False
        )

    return run


def _paused_skips(firings: FiringStore, job: str = "often") -> list[Firing]:
    return [
        f
        for f in firings.find(job=job, kind="run")
        if f.status == "skipped" and f.note.startswith("paused by ")
    ]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _column(table: str, index: int) -> str:
    """A column of a piped table (tab-separated, header first), its cells joined."""
    rows = [line.split("\t") for line in table.splitlines() if "\t" in line]
    return _flat(" ".join(row[index] for row in rows[1:]))


# The store ---------------------------------------------------------------------------


def test_pausing_a_paused_job_keeps_the_first_pause(pauses: PauseStore) -> None:
    """The second pause changes nothing and returns the first one."""
    first = pauses.pause("nightly", actor="console:anna", note=f"  {NOTE}  ")
    second = pauses.pause("nightly", actor="cli:bo", note="another reason")

    assert (first.job, first.paused_by, first.note) == ("nightly", "console:anna", NOTE)
    assert abs(first.paused_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert second == first
    assert pauses.get("nightly") == first
    assert pauses.all() == {"nightly": first}


def test_resume_ends_the_pause_and_says_when_there_was_none(
    pauses: PauseStore,
) -> None:
    """Resume returns the pause it ended, then None; other jobs stay paused."""
    paused = pauses.pause("nightly", actor="console:anna", note=NOTE)
    other = pauses.pause("often", actor="console:anna", note="robot under repair")

    ended = pauses.resume("nightly", actor="cli:bo")
    again = pauses.resume("nightly", actor="cli:bo")

    assert ended == paused
    assert again is None
    assert pauses.get("nightly") is None
    assert pauses.all() == {"often": other}


@pytest.mark.parametrize("note", ["", "   \n"])
def test_a_pause_needs_a_note(pauses: PauseStore, note: str) -> None:
    """A blank note is refused with the reason, and nothing is paused."""
    with pytest.raises(ValueError, match="the morning shift must know why"):
        pauses.pause("nightly", actor="console:anna", note=note)

    assert pauses.all() == {}


# The scheduler -----------------------------------------------------------------------


def test_a_paused_job_is_skipped_with_the_reason_and_runs_again_when_resumed(
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    service: ScheduleService,
    firings: FiringStore,
    done: Callable[[], list[dict[str, Any]]],
    wait_for: Callable[..., Any],
    notified: Callable[[], list[dict[str, Any]]],
    scheduler_events: Callable[[], list[dict[str, Any]]],
) -> None:
    """Paused: firings recorded as skipped, robot not run; resumed: it runs."""
    write_schedule(INTERVAL_JOB)
    service.pause("often", actor="console:anna", note=NOTE)
    scheduler = schedulers.start()

    skipped = wait_for(lambda: _paused_skips(firings)[1:], 60, "two paused firings")
    assert done() == [], "the robot did not run while paused"
    resumed = time.time()
    service.resume("often", actor="console:anna")
    ran = wait_for(
        lambda: [
            f
            for f in firings.find(job="often", kind="run")
            if f.status == "completed" and f.started_at.timestamp() >= resumed
        ],
        60,
        "a run after the resume",
    )
    # Read before stopping: a run the stop interrupts is rightly reported (run_stopped).
    told = notified()
    schedulers.stop(scheduler)

    for firing in skipped:
        assert firing.pid == scheduler.pid, "recorded by the scheduler"
        assert (firing.trigger, firing.run_id, firing.attention) == (
            "schedule",
            None,
            None,
        )
        assert firing.note.startswith("paused by console:anna at ")
        assert firing.note.endswith(f": {NOTE}")
    runs = [f for f in firings.find(job="often", kind="run") if f.run_id]
    assert runs and all(f.started_at.timestamp() >= resumed for f in runs), (
        "no run while paused, and the skipped firings were not made up for by runs "
        "started before the resume"
    )
    assert ran[0].trigger == "schedule"
    assert len(done()) >= 1
    assert told == [], "a pause is deliberate: nobody is told"
    logged = [e for e in scheduler_events() if e["event"] == "firing_skipped"]
    assert logged and logged[0]["reason"].startswith("paused by console:anna")


def test_a_pause_from_the_cli_takes_effect_without_restarting_the_scheduler(
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    firings: FiringStore,
    backend: SqlAlchemyBackend,
    wait_for: Callable[..., Any],
    rpa_process: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """The running scheduler reads each pause and resume at its next firing."""
    write_schedule(INTERVAL_JOB)
    scheduler = schedulers.start()

    def completed(after: float = 0.0) -> list[Firing]:
        return [
            f
            for f in firings.find(job="often", kind="run")
            if f.status == "completed" and f.started_at.timestamp() >= after
        ]

    wait_for(completed, 60, "a run before the pause")
    paused = rpa_process("schedules", "pause", "often", "--note", NOTE)
    assert paused.returncode == 0, paused.stderr
    wait_for(lambda: _paused_skips(firings)[2:], 60, "three paused firings")
    resumed_at = time.time()
    resumed = rpa_process("schedules", "resume", "often")
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: completed(resumed_at), 60, "a run after the resume")
    assert scheduler.poll() is None, "the same scheduler process throughout"
    schedulers.stop(scheduler)

    skipped = _paused_skips(firings)
    first, last = min(f.started_at for f in skipped), max(f.started_at for f in skipped)
    started_while_paused = [
        f
        for f in firings.find(job="often", kind="run")
        if f.run_id is not None and first <= f.started_at <= last
    ]
    assert started_while_paused == [], "no robot run started while paused"
    assert all(f.note.startswith(f"paused by {CLI_ACTOR} at ") for f in skipped)
    assert all(f.note.endswith(f": {NOTE}") for f in skipped)
    (pause_entry,) = backend.audit_log(action="schedule_pause")
    (resume_entry,) = backend.audit_log(action="schedule_resume")
    assert (pause_entry.actor, pause_entry.note) == (CLI_ACTOR, f"often: {NOTE}")
    assert resume_entry.actor == CLI_ACTOR
    assert resume_entry.note.startswith(f"often: paused by {CLI_ACTOR} at ")


def test_a_paused_jobs_preflight_and_deadline_check_do_not_start(
    project: Path,
    leading: Scheduler,
    firings: FiringStore,
    done: Callable[[], list[dict[str, Any]]],
    notified: Callable[[], list[dict[str, Any]]],
) -> None:
    """While paused nothing starts; the skipped run raises no deadline alarm later."""
    now = datetime.now(UTC).astimezone()
    deadline = (now - timedelta(minutes=1)).time().replace(second=0, microsecond=0)
    job = Job(
        name="late",
        file=project / "schedules" / "test.toml",
        robot="slow",
        cron="* * * * *",
        deadline=deadline,
        preflight_minutes_before=0.5,
    )
    leading.firer.jobs = {"late": job}
    leading.firer.pauses.pause("late", actor="console:anna", note=NOTE)

    leading.firer.preflight_scheduled("late")
    leading.firer.deadline_check("late")  # no run started, but paused: no alarm
    leading.firer.fire_scheduled("late")
    leading.firer.pauses.resume("late", actor="console:anna")
    leading.firer.deadline_check("late")  # resumed, the run was skipped on purpose

    (skipped,) = firings.find(job="late")
    assert (skipped.kind, skipped.status, skipped.run_id) == ("run", "skipped", None)
    assert skipped.note.startswith("paused by console:anna at ")
    assert skipped.note.endswith(f": {NOTE}")
    assert skipped.scheduled_for is not None, "the cron fire time it skipped"
    assert done() == []
    assert notified() == []


def test_a_missed_firing_of_a_paused_job_is_skipped_not_told(
    write_schedule: Callable[[str], Path],
    leading: Scheduler,
    service: ScheduleService,
    firings: FiringStore,
    notified: Callable[[], list[dict[str, Any]]],
) -> None:
    """Due while no scheduler ran, but paused: recorded as skipped, nobody told."""
    write_schedule(INTERVAL_JOB)
    leading.firer.jobs, _problems = service.load_jobs()
    service.pause("often", actor="console:anna", note=NOTE)
    due = datetime.now(UTC) - timedelta(hours=2)

    leading._on_event(JobExecutionEvent(EVENT_JOB_MISSED, "often", "default", due))

    (firing,) = firings.find(job="often")
    assert (firing.status, firing.scheduled_for, firing.attention) == (
        "skipped",
        due,
        None,
    )
    assert firing.note.startswith("paused by console:anna at ")
    assert notified() == []


# The service API ---------------------------------------------------------------------


def test_pause_and_resume_of_an_unknown_job_name_the_jobs(
    write_schedule: Callable[[str], Path],
    service: ScheduleService,
    backend: SqlAlchemyBackend,
) -> None:
    """A clear error listing the jobs there are; nothing paused, nothing audited."""
    write_schedule(TWO_JOBS)

    with pytest.raises(ConfigurationError) as paused:
        service.pause("nigthly", actor="console:anna", note=NOTE)
    with pytest.raises(ConfigurationError) as resumed:
        service.resume("nigthly", actor="console:anna")

    expected = "no valid scheduled job 'nigthly' (jobs: nightly, often)"
    assert expected in str(paused.value)
    assert expected in str(resumed.value)
    assert service.pauses.all() == {}
    assert backend.audit_log() == []


def test_a_pause_outlives_its_job_leaving_the_files_and_can_be_lifted(
    write_schedule: Callable[[str], Path],
    service: ScheduleService,
    backend: SqlAlchemyBackend,
) -> None:
    """Removing the job keeps its pause; resuming it by name still works."""
    path = write_schedule(TWO_JOBS)
    pause, new = service.pause("nightly", actor="console:anna", note=NOTE)
    path.write_text('[jobs.often]\nrobot = "slow"\ninterval_minutes = 0.5\n', "utf-8")

    ended = service.resume("nightly", actor="console:bo")

    assert new is True
    assert ended == pause
    assert service.pauses.all() == {}
    assert [(e.actor, e.action) for e in backend.audit_log()] == [
        ("console:bo", "schedule_resume"),
        ("console:anna", "schedule_pause"),
    ]


# The CLI -----------------------------------------------------------------------------


def test_schedules_pause_and_resume_are_listed_and_audited(
    write_schedule: Callable[[str], Path],
    rpa: Callable[..., Result],
    backend: SqlAlchemyBackend,
) -> None:
    """Who paused, when and why in the table and JSON; each change audited once."""
    write_schedule(TWO_JOBS)

    paused = rpa("schedules", "pause", "nightly", "--note", NOTE)
    again = rpa("schedules", "pause", "nightly", "--note", "something else")
    table = rpa("schedules")
    listed = json.loads(rpa("schedules", "--json").output)
    resumed = rpa("schedules", "resume", "nightly")
    resumed_again = rpa("schedules", "resume", "nightly")
    after = json.loads(rpa("schedules", "--json").output)

    assert paused.exit_code == 0, paused.output
    assert (
        "Paused job nightly: its firings are skipped until `rpa schedules resume"
        in (_flat(paused.output))
    )
    assert again.exit_code == 0, again.output
    assert f"Job nightly was paused already, paused by {CLI_ACTOR} at " in (
        _flat(again.output)
    )
    assert "nothing changed" in again.output
    assert table.exit_code == 0, table.output
    next_runs = _column(table.output, 3)
    assert f"paused by {CLI_ACTOR} at " in next_runs
    assert next_runs.count(f": {NOTE}") == 1, "when, then why"
    jobs = {job["job"]: job for job in listed["jobs"]}
    assert jobs["nightly"]["paused"] is True
    assert jobs["nightly"]["next_runs"] == []
    assert jobs["nightly"]["pause"]["paused_by"] == CLI_ACTOR
    assert jobs["nightly"]["pause"]["note"] == NOTE
    assert datetime.fromisoformat(jobs["nightly"]["pause"]["paused_at"]).tzinfo
    assert (jobs["often"]["paused"], jobs["often"]["pause"]) == (False, None)
    assert resumed.exit_code == 0, resumed.output
    assert f"Resumed job nightly (paused by {CLI_ACTOR} at " in _flat(resumed.output)
    assert "Job nightly was not paused; nothing changed." in _flat(resumed_again.output)
    nightly = {job["job"]: job for job in after["jobs"]}["nightly"]
    assert (nightly["paused"], nightly["pause"]) == (False, None)
    assert len(nightly["next_runs"]) == 1
    entries = backend.audit_log()
    assert [(e.actor, e.action, e.item_id) for e in entries] == [
        (CLI_ACTOR, "schedule_resume", None),
        (CLI_ACTOR, "schedule_pause", None),
    ]
    assert entries[1].note == f"nightly: {NOTE}"


def test_schedules_pause_refuses_a_blank_note_and_an_unknown_job(
    write_schedule: Callable[[str], Path],
    rpa: Callable[..., Result],
    backend: SqlAlchemyBackend,
) -> None:
    """Exit 2 with the reason; nothing is paused or audited."""
    write_schedule(TWO_JOBS)

    blank = rpa("schedules", "pause", "nightly", "--note", "  ")
    missing = rpa("schedules", "pause", "nightly")
    unknown = rpa("schedules", "pause", "nigthly", "--note", NOTE)
    unknown_resume = rpa("schedules", "resume", "nigthly")

    assert blank.exit_code == 2
    assert "the morning shift must know why a night run did not happen" in _flat(
        blank.output
    )
    assert missing.exit_code == 2
    assert "--note" in missing.output
    for result in (unknown, unknown_resume):
        assert result.exit_code == 2
        assert "no valid scheduled job 'nigthly' (jobs: nightly, often)" in _flat(
            result.output
        )
    assert backend.audit_log() == []
    listed = json.loads(rpa("schedules", "--json").output)
    assert not any(job["paused"] for job in listed["jobs"])


def test_run_now_still_runs_a_paused_job_and_says_so_in_its_help(
    write_schedule: Callable[[str], Path],
    rpa: Callable[..., Result],
    firings: FiringStore,
    pauses: PauseStore,
) -> None:
    """Firing by hand is an explicit action: the paused job runs, stays paused."""
    write_schedule(TWO_JOBS)
    rpa("schedules", "pause", "nightly", "--note", NOTE)

    fired = rpa("schedules", "run-now", "nightly")
    helped = rpa("schedules", "run-now", "--help")

    assert fired.exit_code == 0, fired.output
    assert "Job nightly: completed" in fired.output
    last = firings.last("nightly")
    assert last is not None and (last.status, last.trigger) == ("completed", "run-now")
    assert pauses.get("nightly") is not None, "still paused"
    assert "A paused job runs too" in _flat(helped.output)
