"""`rpa purge`: old run folders, runs and finished items go; waiting items stay."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import Result

from robotlib.discovery import load_robot
from robotlib.engine import Engine, RunResult
from robotlib.logs import build_redactor, configure_logging
from robotlib.queue import NewItem, QueueBackend, open_backend
from robotlib.queue.models import ItemState
from robotlib.settings import load_settings
from robotlib.testing import FakeClock

TEN_DAYS_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)


@dataclass(frozen=True)
class History:
    """A project with an old run, old waiting items and a recent run."""

    old_run: RunResult
    recent_run: str
    waiting: list[str]


def run_in_the_past(project: Path, moment: datetime, input_path: Path) -> RunResult:
    """Run fake_lab as the engine would have at ``moment`` (a clock standing still)."""
    settings = load_settings(project)
    redactor = build_redactor(settings)
    configure_logging(settings, redactor=redactor, console_level="ERROR")
    backend = open_backend(settings.database, clock=FakeClock(moment))
    try:
        robot = load_robot(settings.robots_dir, "fake_lab").robot
        engine = Engine(
            robot,
            settings=settings,
            backend=backend,
            redactor=redactor,
            sleep=lambda seconds: None,
        )
        return engine.run(input_path=input_path)
    finally:
        backend.close()


def enqueue_in_the_past(project: Path, moment: datetime) -> list[str]:
    """Leave one old item new and one in progress (a worker that died); references."""
    backend = open_backend(load_settings(project).database, clock=FakeClock(moment))
    try:
        payloads = [
            {"cpr": "010190-1234", "code": "NPU00001", "value": 1.0},
            {"cpr": "020290-2345", "code": "NPU00002", "value": 2.0},
        ]
        backend.enqueue(
            "fake_lab", [NewItem(f"{p['cpr']}|{p['code']}", p) for p in payloads]
        )
        backend.claim_next("fake_lab", owner="dead-worker", lease=timedelta(minutes=5))
    finally:
        backend.close()
    return [f"{p['cpr']}|{p['code']}" for p in payloads]


@pytest.fixture
def history(
    project: Path,
    rpa: Callable[..., Result],
    backend: QueueBackend,
    tmp_path: Path,
) -> History:
    """An old run of three rows, a recent run of two rows, then old waiting items."""
    old_input = tmp_path / "old.json"
    old_input.write_text(
        json.dumps(
            [
                {"cpr": "010190-1234", "code": "OLD00001", "value": 1.0},  # done
                {"cpr": "240512-4123", "code": "OLD00002", "value": 1.0},  # business
                {"cpr": "050590-5678", "code": "OFFLINE", "value": 1.0},  # failed
            ]
        ),
        encoding="utf-8",
    )
    recent_input = tmp_path / "recent.json"
    recent_input.write_text(
        json.dumps(
            [
                {"cpr": "020290-2345", "code": "NEW00001", "value": 1.0},  # done
                {"cpr": "240512-4123", "code": "NEW00002", "value": 1.0},  # business
            ]
        ),
        encoding="utf-8",
    )
    old_run = run_in_the_past(project, TEN_DAYS_AGO, old_input)
    assert 0 == rpa("run", "fake_lab", "--input", str(recent_input)).exit_code
    [recent, old] = backend.runs()
    assert old_run.run_id == old.id
    waiting = enqueue_in_the_past(project, TEN_DAYS_AGO)
    return History(old_run, recent.id, waiting)


def test_purge_deletes_old_runs_and_finished_items_only(
    rpa: Callable[..., Result],
    project: Path,
    backend: QueueBackend,
    history: History,
) -> None:
    """Old folders, runs and finished items go; recent ones and waiting items stay."""
    logs = project / "logs" / "fake_lab"
    assert logs / history.old_run.run_id == history.old_run.run_dir
    assert history.old_run.run_dir.is_dir()

    result = rpa("purge", "--older-than", "1d", "--yes")

    assert 0 == result.exit_code
    assert (
        "Purged 1 run folder(s) and 3 item(s) older than 1 day(s), "
        "and 0 trace(s) older than 14 day(s).\n"
    ) == result.stdout
    assert [history.recent_run] == [path.name for path in logs.iterdir()]
    assert [history.recent_run] == [run.id for run in backend.runs()]
    remaining = {item.reference: item.state for item in backend.items("fake_lab")}
    assert {
        "020290-2345|NEW00001": ItemState.DONE,
        "240512-4123|NEW00002": ItemState.BUSINESS_EXCEPTION,
        history.waiting[0]: ItemState.IN_PROGRESS,
        history.waiting[1]: ItemState.NEW,
    } == remaining


def test_purge_keeps_what_is_younger_than_the_age(
    rpa: Callable[..., Result], backend: QueueBackend, history: History
) -> None:
    """--older-than 2w keeps the ten-day-old run and its items."""
    before = (backend.runs(), backend.items())

    result = rpa("purge", "--older-than", "2w", "--yes")

    assert (
        "Purged 0 run folder(s) and 0 item(s) older than 14 day(s), "
        "and 0 trace(s) older than 14 day(s).\n"
    ) == result.stdout
    assert before == (backend.runs(), backend.items())
    assert history.old_run.run_dir.is_dir()


def test_purge_in_hours_says_hours(
    rpa: Callable[..., Result], backend: QueueBackend, history: History
) -> None:
    """--older-than 36h purges the old run and reports the age in hours."""
    result = rpa("purge", "--older-than", "36h", "--yes")

    assert (
        "Purged 1 run folder(s) and 3 item(s) older than 36 hour(s), "
        "and 0 trace(s) older than 14 day(s).\n"
    ) == result.stdout
    assert [history.recent_run] == [run.id for run in backend.runs()]


def test_purge_defaults_to_the_retention_of_rpa_toml(
    rpa: Callable[..., Result],
    project: Path,
    backend: QueueBackend,
    history: History,
) -> None:
    """Without --older-than, log_retention_days of rpa.toml is the age."""
    kept = rpa("purge", "--yes")
    (project / "rpa.toml").write_text(
        'cpr_in_logs = "hash"\nlog_retention_days = 7\n', encoding="utf-8"
    )
    purged = rpa("purge", "--yes")

    assert (
        "Purged 0 run folder(s) and 0 item(s) older than 90 day(s), "
        "and 0 trace(s) older than 14 day(s).\n"
    ) == kept.stdout
    assert (
        "Purged 1 run folder(s) and 3 item(s) older than 7 day(s), "
        "and 0 trace(s) older than 14 day(s).\n"
    ) == purged.stdout
    assert not history.old_run.run_dir.exists()


def test_purge_asks_first_and_a_no_changes_nothing(
    rpa: Callable[..., Result], backend: QueueBackend, history: History
) -> None:
    """Without --yes it asks; answering no exits 1 and deletes nothing."""
    before = (backend.runs(), backend.items())

    result = rpa("purge", "--older-than", "1d", input="n\n")

    assert 1 == result.exit_code
    assert "Delete runs, their files and finished items from before" in result.stdout
    assert before == (backend.runs(), backend.items())
    assert history.old_run.run_dir.is_dir()


def test_purge_keeps_folders_that_are_not_runs(
    rpa: Callable[..., Result], project: Path, history: History
) -> None:
    """A folder under logs/ whose name is no run id is left alone."""
    notes = project / "logs" / "fake_lab" / "operator-notes"
    notes.mkdir()

    rpa("purge", "--older-than", "1d", "--yes")

    assert notes.is_dir()


@pytest.mark.parametrize("age", ["5x", "0d", "d", "-3d", "1.5d"])
def test_purge_refuses_an_invalid_age(
    rpa: Callable[..., Result], backend: QueueBackend, history: History, age: str
) -> None:
    """An age that is not a positive number of d, w or h exits 2; nothing goes."""
    before = (backend.runs(), backend.items())

    result = rpa("purge", f"--older-than={age}", "--yes")

    assert 2 == result.exit_code
    assert (
        f"--older-than takes a number and d, w or h, e.g. 90d (got {age!r})\n"
        == result.stderr
    )
    assert before == (backend.runs(), backend.items())


def write_trace(folder: Path, name: str, *, age: timedelta) -> Path:
    """A trace zip in a run folder, last written ``age`` ago."""
    path = folder / name
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    moment = (datetime.now(UTC) - age).timestamp()
    os.utime(path, (moment, moment))
    return path


def test_purge_deletes_old_traces_from_the_run_folders_it_keeps(
    rpa: Callable[..., Result], project: Path, history: History
) -> None:
    """Traces older than trace_retention_days (14) go; newer ones, the rest of the
    run folders and the runs stay."""
    recent = project / "logs" / "fake_lab" / history.recent_run
    old = write_trace(recent, "item-1-attempt-2-browser-trace.zip", age=timedelta(20))
    new = write_trace(recent, "item-2-attempt-2-browser-trace.zip", age=timedelta(1))
    ten_days = write_trace(
        history.old_run.run_dir, "item-3-attempt-2-browser-trace.zip", age=timedelta(10)
    )
    other = {p.name for p in [*recent.iterdir(), *history.old_run.run_dir.iterdir()]}

    result = rpa("purge", "--yes")  # runs: 90 days, so both folders stay

    assert 0 == result.exit_code
    assert (
        "Purged 0 run folder(s) and 0 item(s) older than 90 day(s), "
        "and 1 trace(s) older than 14 day(s).\n"
    ) == result.stdout
    assert (False, True, True) == (old.exists(), new.exists(), ten_days.exists())
    assert other - {old.name} == {
        p.name for p in [*recent.iterdir(), *history.old_run.run_dir.iterdir()]
    }
    assert "events.jsonl" in {p.name for p in recent.iterdir()}


def test_purge_takes_trace_retention_days_from_rpa_toml(
    rpa: Callable[..., Result], project: Path, history: History
) -> None:
    """trace_retention_days = 7 deletes a ten-day-old trace and keeps a newer one;
    the question names the traces' cut-off."""
    (project / "rpa.toml").write_text(
        'cpr_in_logs = "hash"\ntrace_retention_days = 7\n', encoding="utf-8"
    )
    folder = history.old_run.run_dir
    old = write_trace(folder, "item-1-attempt-2-browser-trace.zip", age=timedelta(10))
    new = write_trace(folder, "item-2-attempt-2-browser-trace.zip", age=timedelta(6))

    asked = rpa("purge", input="n\n")
    kept_when_asked = old.exists()
    result = rpa("purge", "--yes")

    assert (1, True) == (asked.exit_code, kept_when_asked)
    assert "and traces from before" in asked.stdout
    assert (
        "Purged 0 run folder(s) and 0 item(s) older than 90 day(s), "
        "and 1 trace(s) older than 7 day(s).\n"
    ) == result.stdout
    assert (False, True) == (old.exists(), new.exists())
    assert (folder / "events.jsonl").is_file()


def test_purge_refuses_a_trace_retention_below_one_day(
    rpa: Callable[..., Result], project: Path, history: History
) -> None:
    """trace_retention_days = 0 is an invalid setting (exit 2); nothing goes."""
    (project / "rpa.toml").write_text(
        'cpr_in_logs = "hash"\ntrace_retention_days = 0\n', encoding="utf-8"
    )
    trace = write_trace(
        history.old_run.run_dir, "item-1-attempt-2-browser-trace.zip", age=timedelta(30)
    )

    result = rpa("purge", "--yes")

    assert 2 == result.exit_code
    assert "trace_retention_days" in result.stderr
    assert trace.exists()


def test_purge_deletes_console_uploads_with_the_traces(
    rpa: Callable[..., Result], project: Path, history: History
) -> None:
    """An input uploaded in the console 20 days ago (patient data in clear) goes
    with the traces; one of yesterday stays."""
    uploads = project / ".rpa" / "uploads"
    now = datetime.now(UTC)
    made = {}
    for days in (20, 1):
        folder = uploads / f"{now - timedelta(days=days):%Y%m%dT%H%M%SZ}-{'ab' * 32}"
        folder.mkdir(parents=True)
        (folder / "lab.xlsx").write_bytes(b"PK")
        made[days] = folder

    result = rpa("purge", "--yes")

    assert 0 == result.exit_code, result.stdout
    assert "and 0 trace(s) and 1 upload(s) older than 14 day(s)." in result.stdout
    assert (False, True) == (made[20].exists(), made[1].exists())
