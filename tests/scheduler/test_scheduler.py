"""`rpa scheduler`: fires jobs in child processes, once, under a time limit."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import update
from typer.testing import Result

from robotlib.db.schema import schedule_firings
from robotlib.logs import read_events
from robotlib.queue import RunStatus, SqlAlchemyBackend
from robotlib.scheduler import FiringStore


def run_now(project: Path, job: str) -> Result:
    """`rpa schedules run-now JOB` in the project, as an operator types it."""
    from typer.testing import CliRunner

    from robotlib.cli import app

    return CliRunner().invoke(
        app, ["--project", str(project), "schedules", "run-now", job]
    )


INTERVAL_JOB = """\
[jobs.often]
robot = "slow"
interval_minutes = 0.02    # 1.2 s
misfire_grace_s = 30
"""


def test_an_interval_job_fires_the_robot_in_a_child_process(
    project: Path,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    finished_runs: Callable[[], list[Any]],
    backend: SqlAlchemyBackend,
    done: Callable[[], list[dict[str, Any]]],
    wait_for: Callable[..., Any],
    scheduler_events: Callable[[], list[dict[str, Any]]],
) -> None:
    """Each firing is a robot run in its own process, recorded and logged."""
    write_schedule(INTERVAL_JOB)
    scheduler = schedulers.start()

    firings = wait_for(lambda: finished_runs()[:2], 60, "two finished firings")
    schedulers.stop(scheduler)

    for firing in firings:
        assert (firing.job, firing.status, firing.exit_code) == (
            "often",
            "completed",
            0,
        )
        assert firing.pid == scheduler.pid, "recorded by the scheduler"
        run = backend.get_run(firing.run_id)
        assert run.status is RunStatus.COMPLETED
        assert run.counts == {"done": 1}
        assert run.pid not in (scheduler.pid, 0), "the robot ran in a child process"
        events = project / "logs" / "slow" / run.id / "events.jsonl"
        assert "run_finished" in [event["event"] for event in read_events(events)]
    assert {item["pid"] for item in done()} >= {
        backend.get_run(f.run_id).pid for f in firings
    }
    logged = scheduler_events()
    started = [e["run_id"] for e in logged if e["event"] == "firing_started"]
    finished = [e for e in logged if e["event"] == "firing_finished"]
    assert {f.run_id for f in firings} <= set(started)
    assert {f.run_id for f in firings} <= {e["run_id"] for e in finished}


def test_max_instances_keeps_firings_of_one_job_from_overlapping(
    project: Path,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    firings: FiringStore,
    done: Callable[[], list[dict[str, Any]]],
    wait_for: Callable[..., Any],
) -> None:
    """A run longer than the interval: the next firings are skipped, not stacked."""
    write_schedule(INTERVAL_JOB)
    scheduler = schedulers.start(env={"SLOW_SLEEP_S": "3"})

    wait_for(lambda: len(done()) >= 3, 90, "three runs")
    schedulers.stop(scheduler)

    spans = sorted((item["start"], item["end"]) for item in done())
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"runs overlapped: {spans}"
    skipped = [f for f in firings.find(job="often") if f.status == "skipped"]
    assert skipped, "the firings during a run were skipped"
    assert "still running" in skipped[0].note


def test_a_run_past_its_time_limit_is_killed_and_recorded_so(
    project: Path,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    firings: FiringStore,
    backend: SqlAlchemyBackend,
    notified: Callable[[], list[dict[str, Any]]],
    done: Callable[[], list[dict[str, Any]]],
    wait_for: Callable[..., Any],
) -> None:
    """SIGTERM at the limit, the kill after the grace; the run is stopped, told."""
    write_schedule(
        """\
[jobs.long]
robot = "slow"
interval_minutes = 0.02        # 1.2 s
max_run_time_minutes = 0.05    # 3 s
"""
    )
    scheduler = schedulers.start("--term-grace", "1", env={"SLOW_SLEEP_S": "120"})

    firing = wait_for(
        lambda: [f for f in firings.find(job="long") if f.status == "timed_out"],
        60,
        "a timed-out firing",
    )[0]
    schedulers.stop(scheduler)

    assert firing.finished_at is not None
    assert (firing.finished_at - firing.started_at).total_seconds() < 30, (
        "killed at the limit, not after the robot's 120 s"
    )
    assert "maximum run time of 0.05 min" in (firing.attention or "")
    run = backend.get_run(firing.run_id or "")
    assert run.status is RunStatus.STOPPED
    assert run.note.startswith("killed: stopped at its maximum run time")
    assert done() == [], "the item was not finished"
    assert "time_limit" in [n["kind"] for n in notified()]
    assert firing.run_id in [n["run_id"] for n in notified()]


def test_missed_firings_within_the_grace_run_once_when_coalescing(
    project: Path,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    finished_runs: Callable[[], list[Any]],
    firings: FiringStore,
    wait_for: Callable[..., Any],
    store_job_then_stop: Callable[[], float],
) -> None:
    """Down for two intervals: one catch-up run at start, then on schedule."""
    write_schedule(
        """\
[jobs.catch_up]
robot = "slow"
interval_minutes = 0.15    # 9 s
misfire_grace_s = 60
coalesce = true
"""
    )
    stored_at = store_job_then_stop()
    time.sleep(20 - (time.time() - stored_at))  # the firings at +9 s, +18 s missed

    restarted = time.time()
    scheduler = schedulers.start()
    wait_for(lambda: finished_runs()[:1], 30, "the catch-up run")
    time.sleep(max(0.0, stored_at + 26 - time.time()))
    schedulers.stop(scheduler)

    runs = firings.find(job="catch_up", kind="run")
    caught_up = [
        f for f in runs if restarted <= f.started_at.timestamp() < stored_at + 26
    ]
    assert len(caught_up) == 1, f"the missed firings ran once, coalesced: {runs}"
    assert caught_up[0].status == "completed"
    assert not [f for f in runs if f.status == "missed"]


def test_missed_firings_past_the_grace_are_skipped_with_a_reason(
    project: Path,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    firings: FiringStore,
    notified: Callable[[], list[dict[str, Any]]],
    wait_for: Callable[..., Any],
    store_job_then_stop: Callable[[], float],
    scheduler_events: Callable[[], list[dict[str, Any]]],
) -> None:
    """Late by more than the grace: recorded as missed, logged, notified; no run."""
    write_schedule(
        """\
[jobs.strict]
robot = "slow"
interval_minutes = 0.1    # 6 s
misfire_grace_s = 1
"""
    )
    stored_at = store_job_then_stop()
    # Restart between the first missed firing (+6 s) and the next one (+12 s): the
    # firing due at +6 s is then late by more than the grace whatever the startup.
    time.sleep(stored_at + 8.5 - time.time())

    scheduler = schedulers.start()
    missed = wait_for(
        lambda: [f for f in firings.find(job="strict") if f.status == "missed"],
        30,
        "a missed firing",
    )
    schedulers.stop(scheduler)

    assert "more than the misfire grace of 1 s" in missed[0].note
    assert missed[0].run_id is None
    assert "missed_firing" in [n["kind"] for n in notified()]
    assert "firing_missed" in [event["event"] for event in scheduler_events()]


def test_a_run_with_too_many_business_exceptions_needs_attention(
    project: Path,
    write_schedule: Callable[[str], Path],
    firings: FiringStore,
    notified: Callable[[], list[dict[str, Any]]],
) -> None:
    """Completed, but more business exceptions than the threshold: notified."""
    rows = [{"key": f"b{i}", "bad": True} for i in range(3)] + [{"key": "ok"}]
    (project / "export.json").write_text(json.dumps(rows), "utf-8")
    write_schedule(
        """\
[jobs.nightly]
robot = "slow"
cron = "0 2 * * *"
input = "export.json"
business_exception_threshold = 2
"""
    )
    result = run_now(project, "nightly")

    assert result.exit_code == 0, result.output
    firing = firings.last("nightly")
    assert firing is not None and firing.status == "completed"
    assert firing.attention is not None
    assert "3 business exceptions, more than the threshold of 2" in firing.attention
    (message,) = notified()
    assert message["kind"] == "business_exceptions"
    assert message["robot"] == "slow"
    assert "rpa exceptions slow" in message["body"]


def test_a_run_with_a_failed_item_needs_attention_and_run_now_exits_3(
    project: Path,
    write_schedule: Callable[[str], Path],
    firings: FiringStore,
    backend: SqlAlchemyBackend,
    notified: Callable[[], list[dict[str, Any]]],
) -> None:
    """A run that ran to its end with one failed item (default threshold 0) is a
    completed firing that needs attention: a failed_items notification with the
    count and the console link; `rpa schedules run-now` exits 3."""
    robot = project / "robots" / "slow.py"  # one system exception does not stop it
    text = robot.read_text("utf-8")
    robot.write_text(
        text.replace("stop_after_system_errors=1", "stop_after_system_errors=2"),
        "utf-8",
    )
    rows = [{"key": "broken", "broken": True}, {"key": "bad", "bad": True}]
    (project / "export.json").write_text(json.dumps([*rows, {"key": "ok"}]), "utf-8")
    settings = project / "rpa.toml"
    settings.write_text(
        'console_url = "https://rpa.example.org/"\n' + settings.read_text("utf-8"),
        "utf-8",
    )
    write_schedule(
        """\
[jobs.nightly]
robot = "slow"
cron = "0 2 * * *"
input = "export.json"
"""
    )
    result = run_now(project, "nightly")

    assert result.exit_code == 3, result.output
    firing = firings.last("nightly")
    assert firing is not None and firing.run_id is not None
    assert ("completed", 3) == (firing.status, firing.exit_code)
    run = backend.get_run(firing.run_id)
    assert (RunStatus.COMPLETED_WITH_FAILURES, 1) == (run.status, run.counts["failed"])
    assert firing.attention is not None
    # failed items first, the business exception over its threshold of 0 after
    assert firing.attention.startswith(
        "1 failed items, more than the threshold of 0: see `rpa exceptions slow`; "
        "1 business exceptions"
    )
    (message,) = notified()
    link = f"https://rpa.example.org/runs/{run.id}"
    assert ("failed_items", "slow", run.id, 1, link) == (
        message["kind"],
        message["robot"],
        message["run_id"],
        message["count"],
        message["link"],
    )
    assert f"Console: {link}\n" in message["body"]


def test_a_glob_runs_each_matching_file_and_no_match_is_told(
    project: Path,
    write_schedule: Callable[[str], Path],
    firings: FiringStore,
    backend: SqlAlchemyBackend,
    notified: Callable[[], list[dict[str, Any]]],
) -> None:
    """One run per matching file, in name order; none matching is a skip to tell."""
    inputs = project / "inputs"
    inputs.mkdir()
    for day in ("01", "02"):
        rows = [{"key": f"day{day}"}]
        (inputs / f"lab_{day}.json").write_text(json.dumps(rows), "utf-8")
    write_schedule(
        """\
[jobs.files]
robot = "slow"
cron = "0 2 * * *"
input = "inputs/lab_*.json"

[jobs.nothing]
robot = "slow"
cron = "0 3 * * *"
input = "inputs/pro_*.json"
"""
    )
    fired = run_now(project, "files")
    skipped = run_now(project, "nothing")

    assert fired.exit_code == 0, fired.output
    runs = sorted(firings.find(job="files"), key=lambda f: f.id)
    assert [f.status for f in runs] == ["completed", "completed"]
    items = [backend.items("slow", run_id=f.run_id) for f in runs]
    assert [[i.reference for i in found] for found in items] == [["day01"], ["day02"]]
    assert skipped.exit_code == 1
    (nothing,) = firings.find(job="nothing")
    assert nothing.status == "skipped"
    assert nothing.attention == "no input file matches 'inputs/pro_*.json'"
    assert [n["kind"] for n in notified()] == ["no_input"]


def test_a_firing_left_running_by_a_dead_scheduler_does_not_block_the_robot(
    project: Path,
    write_schedule: Callable[[str], Path],
    firings: FiringStore,
    backend: SqlAlchemyBackend,
) -> None:
    """Its run ended meanwhile, or it is past any time limit: closed, not waited on."""
    write_schedule('[jobs.nightly]\nrobot = "slow"\ncron = "0 2 * * *"\n')
    finished, _ = firings.start(
        job="nightly",
        robot="slow",
        kind="run",
        trigger="schedule",
        scheduled_for=None,
        run_id="20261201T010000Z-aaaaaa",
    )
    backend.start_run("20261201T010000Z-aaaaaa", "slow", host="elsewhere", pid=1)
    backend.finish_run(
        "20261201T010000Z-aaaaaa", status=RunStatus.COMPLETED, counts={"done": 4}
    )
    with firings.engine.begin() as conn:  # started by a scheduler on another host
        conn.execute(
            update(schedule_firings)
            .where(schedule_firings.c.id == finished.id)
            .values(host="elsewhere", pid=1)
        )
    result = run_now(project, "nightly")

    assert result.exit_code == 0, result.output
    closed = firings.get(finished.id)
    assert (closed.status, closed.note) == (
        "completed",
        "done 4, business exceptions 0, failed 0",
    )
    newest = firings.last("nightly")
    assert newest is not None and newest.id != finished.id
    assert newest.status == "completed"


def test_a_broken_schedule_file_keeps_its_jobs_as_last_defined(
    project: Path,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    finished_runs: Callable[[], list[Any]],
    notified: Callable[[], list[dict[str, Any]]],
    wait_for: Callable[..., Any],
) -> None:
    """A scheduler (re)started while a file is broken still fires its jobs; told."""
    path = write_schedule(INTERVAL_JOB)
    scheduler = schedulers.start()
    wait_for(lambda: finished_runs()[:1], 60, "a firing")
    schedulers.stop(scheduler)
    path.write_text(INTERVAL_JOB.replace("[jobs.often]", "[jobs.often"), "utf-8")

    restarted = time.time()
    scheduler = schedulers.start()
    wait_for(
        lambda: [f for f in finished_runs() if f.started_at.timestamp() > restarted],
        60,
        "a firing after the restart",
    )
    schedulers.stop(scheduler)

    problems = [n for n in notified() if n["kind"] == "schedule_problem"]
    assert len(problems) == 1, "told once, not at every poll"
    assert "invalid TOML" in problems[0]["body"]


#: A robot reading a spreadsheet by robotlib's reader (which refuses a file that is
#: no workbook as input, exit code 2).
SHEET_ROBOT = """\
from pydantic import BaseModel

from robotlib import Robot
from robotlib.steps.excel import excel_source


class Row(BaseModel):
    key: str


robot = Robot(
    name="sheet",
    item=Row,
    source=excel_source("inbox/default.xlsx", model=Row),
    reference=["key"],
    process=lambda ctx, row: None,
)
"""


def test_a_watched_folder_files_away_what_it_ran(
    project: Path,
    write_schedule: Callable[[str], Path],
    firings: FiringStore,
    backend: SqlAlchemyBackend,
    notified: Callable[[], list[dict[str, Any]]],
) -> None:
    """A watch job runs once per file: a loaded file moves to processed/<date>/, a
    refused one to rejected/ with its reason beside it; the next firing finds an
    empty inbox and records nothing, tells nobody."""
    (project / "robots" / "sheet.py").write_text(SHEET_ROBOT, "utf-8")
    settings = project / "rpa.toml"  # files written at once: stable at once
    settings.write_text("input_stable_s = 0.2\n" + settings.read_text("utf-8"), "utf-8")
    inbox = project / "inbox"
    inbox.mkdir()
    workbook = openpyxl.Workbook()
    workbook.active.append(["key"])
    workbook.active.append(["a1"])
    workbook.save(inbox / "a.xlsx")
    (inbox / "b.xlsx").write_text("this is no workbook", "utf-8")
    write_schedule(
        """\
[jobs.inbox]
robot = "sheet"
interval_minutes = 1
input = "inbox/*.xlsx"
watch = true
"""
    )
    first = run_now(project, "inbox")
    second = run_now(project, "inbox")

    today = datetime.now(ZoneInfo("Europe/Copenhagen")).date().isoformat()
    assert [] == sorted(p.name for p in inbox.glob("*.xlsx")), first.output
    assert (inbox / "processed" / today / "a.xlsx").is_file()
    assert (inbox / "rejected" / "b.xlsx").is_file()
    reason = (inbox / "rejected" / "b.xlsx.reason.txt").read_text("utf-8")
    assert "b.xlsx: this is not an Excel workbook" in reason and "(run " in reason
    assert ["a1"] == [item.reference for item in backend.items("sheet")]
    assert 2 == len(firings.find(job="inbox")), second.output
    assert "no_input" not in [n["kind"] for n in notified()]


def test_a_watched_file_still_being_written_is_read_once_complete(
    project: Path,
    write_schedule: Callable[[str], Path],
    backend: SqlAlchemyBackend,
    tmp_path: Path,
) -> None:
    """A workbook copied into the inbox in chunks over about two seconds: the run
    waits until it has stopped changing and loads it whole (half a workbook would
    be refused and filed as rejected)."""
    (project / "robots" / "sheet.py").write_text(SHEET_ROBOT, "utf-8")
    settings = project / "rpa.toml"
    settings.write_text("input_stable_s = 1\n" + settings.read_text("utf-8"), "utf-8")
    workbook = openpyxl.Workbook()
    workbook.active.append(["key"])
    for n in range(200):
        workbook.active.append([f"row{n}"])
    whole = tmp_path / "whole.xlsx"
    workbook.save(whole)
    content = whole.read_bytes()
    inbox = project / "inbox"
    inbox.mkdir()
    target = inbox / "slow.xlsx"
    chunks = [
        content[i : i + len(content) // 5 + 1]
        for i in range(0, len(content), len(content) // 5 + 1)
    ]
    target.write_bytes(chunks[0])

    def copy_slowly() -> None:
        with target.open("ab") as file:
            for chunk in chunks[1:]:
                time.sleep(0.4)
                file.write(chunk)
                file.flush()

    write_schedule(
        '[jobs.inbox]\nrobot = "sheet"\ninterval_minutes = 1\n'
        'input = "inbox/*.xlsx"\nwatch = true\n'
    )
    copier = threading.Thread(target=copy_slowly)
    copier.start()
    fired = run_now(project, "inbox")
    copier.join()

    today = datetime.now(ZoneInfo("Europe/Copenhagen")).date().isoformat()
    assert (inbox / "processed" / today / "slow.xlsx").is_file(), fired.output
    assert content == (inbox / "processed" / today / "slow.xlsx").read_bytes()
    assert 200 == len(backend.items("sheet"))
