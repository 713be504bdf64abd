"""Schedule files: validation, fire times across DST, and the Danish calendar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from robotlib.discovery import Problem
from robotlib.schedule import (
    Calendar,
    Job,
    check_schedules,
    load_schedules,
    next_fire_times,
)

CPH = ZoneInfo("Europe/Copenhagen")


def make_job(**overrides: Any) -> Job:
    """A daily 02:00 job of robot lab_results, with fields overridden."""
    fields: dict[str, Any] = {
        "name": "nightly",
        "file": Path("nightly.toml"),
        "robot": "lab_results",
        "cron": "0 2 * * *",
    }
    return Job(**(fields | overrides))


def local(*parts: int) -> datetime:
    """A Europe/Copenhagen datetime."""
    return datetime(*parts, tzinfo=CPH)  # type: ignore[misc]


def shown(times: list[datetime]) -> list[str]:
    """The times in ISO format with their UTC offsets."""
    return [t.isoformat() for t in times]


@pytest.fixture
def write_schedule(tmp_path: Path) -> Callable[[str, str], Path]:
    """Return a function that writes a schedule file into tmp_path/schedules."""
    folder = tmp_path / "schedules"
    folder.mkdir()

    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


# DST in Europe/Copenhagen


def test_0230_job_runs_once_on_the_spring_forward_day_at_0330_summer_time() -> None:
    """02:30 does not exist on 2026-03-29; the job runs once, at 03:30+02:00."""
    job = make_job(cron="30 2 * * *")

    times = next_fire_times(job, after=local(2026, 3, 27, 12), count=4)

    assert [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ] == shown(times)


def test_0230_job_runs_once_on_the_fall_back_day() -> None:
    """02:30 happens twice on 2026-10-25; the job runs only at the first, +02:00."""
    job = make_job(cron="30 2 * * *")

    times = next_fire_times(job, after=local(2026, 10, 23, 12), count=4)

    assert [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ] == shown(times)


def test_0200_job_changes_utc_offset_with_daylight_saving_time() -> None:
    """A 02:00 job runs at 02:00+01:00 before and 02:00+02:00 after spring forward."""
    job = make_job(cron="0 2 * * *")

    times = next_fire_times(job, after=local(2026, 3, 27, 12), count=3)

    assert [
        "2026-03-28T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ] == shown(times)


def test_interval_job_runs_in_both_repeated_hours() -> None:
    """An hourly interval job runs by elapsed time, so twice at 02:00 on fall back."""
    job = make_job(cron=None, interval_minutes=60)

    times = next_fire_times(job, after=local(2026, 10, 25, 0, 0), count=4)

    assert [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ] == shown(times)


# Calendar


def test_skip_holidays_skips_christmas_days_including_christmas_eve() -> None:
    """With skip_holidays, 2026-12-24, 25 and 26 have no run."""
    job = make_job(calendar=Calendar(skip_holidays=True))

    times = next_fire_times(job, after=local(2026, 12, 22, 12), count=3)

    assert [date(2026, 12, 23), date(2026, 12, 27), date(2026, 12, 28)] == [
        t.date() for t in times
    ]


def test_skip_holidays_skips_easter_2026() -> None:
    """With skip_holidays, Maundy Thursday to Easter Monday 2026 have no run."""
    job = make_job(calendar=Calendar(skip_holidays=True))

    times = next_fire_times(job, after=local(2026, 3, 31, 12), count=3)

    assert [date(2026, 4, 1), date(2026, 4, 4), date(2026, 4, 7)] == [
        t.date() for t in times
    ]


def test_weekdays_only_skips_saturday_and_sunday() -> None:
    """With weekdays_only, the job runs Friday and then Monday."""
    job = make_job(calendar=Calendar(weekdays_only=True))

    times = next_fire_times(job, after=local(2026, 3, 5, 12), count=3)

    assert ["Fri", "Mon", "Tue"] == [t.strftime("%a") for t in times]


def test_explicit_skip_dates_are_skipped() -> None:
    """A date in skip_dates has no run; the days around it do."""
    job = make_job(calendar=Calendar(skip_dates=[date(2026, 6, 5)]))

    times = next_fire_times(job, after=local(2026, 6, 3, 12), count=2)

    assert [date(2026, 6, 4), date(2026, 6, 6)] == [t.date() for t in times]


def test_calendar_allows_ordinary_days_by_default() -> None:
    """The default calendar allows a holiday, a weekend and any other day."""
    days = [date(2026, 12, 25), date(2026, 3, 28), date(2026, 3, 30)]

    assert [True, True, True] == [Calendar().allows(day) for day in days]


def test_calendar_that_allows_nothing_stops_after_the_guard() -> None:
    """A job whose calendar skips every day gives no fire times instead of looping."""
    job = make_job(calendar=Calendar(weekdays_only=True), cron="0 2 * * sat")

    assert [] == next_fire_times(job, after=local(2026, 1, 1), count=1)


# Schedule files


def test_valid_file_with_two_jobs_loads_both(
    write_schedule: Callable[[str, str], Path],
) -> None:
    """A file with two [jobs.<name>] tables gives two jobs with their settings."""
    path = write_schedule(
        "nightly.toml",
        '[jobs.a]\nrobot = "lab_results"\ncron = "0 2 * * *"\n'
        "calendar = { weekdays_only = true }\n\n"
        '[jobs.b]\nrobot = "daily_report"\ninterval_minutes = 15\nenabled = false\n',
    )

    jobs, problems = load_schedules(path.parent)

    assert [] == problems
    assert [("a", 1, True, None), ("b", 6, False, 15)] == [
        (j.name, j.line, j.enabled, j.interval_minutes) for j in jobs
    ]
    assert "Europe/Copenhagen" == jobs[0].timezone
    assert Calendar(weekdays_only=True) == jobs[0].calendar


def test_missing_schedules_folder_holds_no_jobs(tmp_path: Path) -> None:
    """A project without schedules/ has no jobs and no problems."""
    assert ([], []) == load_schedules(tmp_path / "schedules")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        pytest.param(
            'robot = "lab_results"\ncron = "0 2 * *"\n',
            3,
            "job 'nightly': cron: cron '0 2 * *' has 4 field(s); use 5: minute hour "
            "day month day-of-week, e.g. '0 2 * * *'",
            id="cron-fields",
        ),
        pytest.param(
            'robot = "lab_results"\ncron = "61 2 * * *"\n',
            3,
            "job 'nightly': cron: invalid cron '61 2 * * *': Error validating "
            "expression '61': the last value (61) is higher than the maximum value "
            "(59)",
            id="cron-value",
        ),
        pytest.param(
            'robot = "lab_results"\ncron = "0 2 * * 1-5"\n',
            3,
            "job 'nightly': cron: cron '0 2 * * 1-5': write the day-of-week field "
            "with names (mon-fri, sat,sun): APScheduler 3 counts days from Monday = "
            "0, cron from Sunday = 0",
            id="cron-day-number",
        ),
        pytest.param(
            'robot = "lab_results"\ncron = "0 2 * * *"\ntimezone = "Europe/Kbh"\n',
            4,
            "job 'nightly': timezone: unknown time zone 'Europe/Kbh'; use an IANA "
            "name such as 'Europe/Copenhagen'",
            id="timezone",
        ),
        pytest.param(
            'robot = "lab_results"\ncron = "0 2 * * *"\ninterval_minutes = 5\n',
            1,
            "job 'nightly': give exactly one of cron and interval_minutes",
            id="cron-and-interval",
        ),
        pytest.param(
            'robot = "lab_results"\ninterval_minutes = 5\ndeadline = "06:30"\n',
            1,
            "job 'nightly': a deadline needs a cron schedule (a time of day)",
            id="deadline-without-cron",
        ),
        pytest.param(
            'robot = "lab_results"\ncron = "0 2 * * *"\nworkers = 0\n',
            4,
            "job 'nightly': workers: Input should be greater than or equal to 1",
            id="workers",
        ),
        pytest.param(
            'robot = "lab_results"\ncron = "0 2 * * *"\nworker = 2\n',
            4,
            "job 'nightly': worker: unknown field",
            id="unknown-field",
        ),
    ],
)
def test_invalid_job_is_a_problem_naming_file_job_and_line(
    write_schedule: Callable[[str, str], Path], body: str, line: int, message: str
) -> None:
    """An invalid job is left out and reported at its file and line."""
    path = write_schedule("nightly.toml", "[jobs.nightly]\n" + body)

    jobs, problems = load_schedules(path.parent)

    assert ([], [Problem(path, line, message)]) == (jobs, problems)


def test_invalid_toml_is_one_problem_at_the_parser_line(
    write_schedule: Callable[[str, str], Path],
) -> None:
    """A file that is not TOML is one problem at the line the parser gives."""
    path = write_schedule("bad.toml", '[jobs.x]\nrobot = "a"\ncron = 0 2 * * *\n')

    jobs, problems = load_schedules(path.parent)

    assert [] == jobs
    assert [(path, 3)] == [(p.file, p.line) for p in problems]
    assert problems[0].message.startswith("invalid TOML: ")


def test_same_job_name_in_two_files_is_a_problem(
    write_schedule: Callable[[str, str], Path],
) -> None:
    """A job name used in two files is reported in the second file."""
    text = '[jobs.nightly]\nrobot = "lab_results"\ncron = "0 2 * * *"\n'
    first = write_schedule("a.toml", text)
    second = write_schedule("b.toml", text)

    jobs, problems = load_schedules(first.parent)

    assert [first] == [job.file for job in jobs]
    assert [
        Problem(second, 1, f"job 'nightly': the name is used by {first}")
    ] == problems


def test_unknown_robot_is_a_problem_at_the_robot_line(
    write_schedule: Callable[[str, str], Path],
) -> None:
    """A job naming a robot the project lacks is reported with the known robots."""
    path = write_schedule(
        "nightly.toml", '[jobs.nightly]\ncron = "0 2 * * *"\nrobot = "lab_resluts"\n'
    )
    jobs, _ = load_schedules(path.parent)

    problems = check_schedules(jobs, ["lab_results", "daily_report"])

    assert [
        Problem(
            path,
            3,
            "job 'nightly': unknown robot 'lab_resluts' "
            "(robots: daily_report, lab_results)",
        )
    ] == problems


def test_example_nightly_schedule_is_valid() -> None:
    """The project's schedules/nightly.toml loads and names robots that exist."""
    root = Path(__file__).resolve().parents[2]
    robots = [path.stem for path in (root / "robots").glob("[!_]*.py")]

    jobs, problems = load_schedules(root / "schedules")

    assert [] == problems + check_schedules(jobs, robots)
    assert [("lab_results", "0 2 * * *"), ("daily_report", "30 5 * * *")] == [
        (job.robot, job.cron) for job in jobs
    ]
