"""`rpa check` validates schedules/*.toml too, naming file, job and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

GOOD = """\
[jobs.lab_nightly]
robot = "fake_lab"
cron = "0 2 * * *"
calendar = { weekdays_only = true, skip_holidays = true }
"""

BAD = """\
[jobs.lab_nightly]
robot = "fake_lab"
cron = "0 25 * * *"

[jobs.lab_typo]
cron = "0 3 * * *"
robot = "fake_lba"
"""


def write_schedule(project: Path, name: str, text: str) -> Path:
    """Write a schedule file into the project's schedules folder."""
    folder = project / "schedules"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_schedule_lists_its_jobs_and_exits_0(
    rpa: Callable[..., Result], project: Path
) -> None:
    """A valid schedule file's jobs are listed as ok after the robots."""
    path = write_schedule(project, "nightly.toml", GOOD)

    result = rpa("check")

    assert 0 == result.exit_code
    assert [
        f"ok  fake_lab  ({project / 'robots' / 'fake_lab.py'})",
        f"ok  job lab_nightly  ({path})",
        "1 robot(s) and 1 scheduled job(s) checked, no problems.",
    ] == result.stdout.splitlines()


def test_bad_schedule_exits_2_with_each_problem_at_file_and_line(
    rpa: Callable[..., Result], project: Path
) -> None:
    """A bad cron and an unknown robot are each reported as file:line naming the job."""
    path = write_schedule(project, "nightly.toml", BAD)

    result = rpa("check")

    assert 2 == result.exit_code
    assert [
        f"ok  fake_lab  ({project / 'robots' / 'fake_lab.py'})",
        f"error  {path}:3: job 'lab_nightly': cron: invalid cron '0 25 * * *': "
        "Error validating expression '25': the last value (25) is higher than the "
        "maximum value (23)",
        f"error  {path}:7: job 'lab_typo': unknown robot 'fake_lba' (robots: fake_lab)",
    ] == result.stdout.splitlines()
    assert "2 problem(s) found.\n" == result.stderr


def test_schedule_that_is_not_toml_exits_2(
    rpa: Callable[..., Result], project: Path
) -> None:
    """A schedule file the TOML parser rejects is reported at the parser's line."""
    path = write_schedule(project, "broken.toml", "[jobs.x]\nrobot = fake_lab\n")

    result = rpa("check")

    assert 2 == result.exit_code
    assert result.stdout.splitlines()[1].startswith(f"error  {path}:2: invalid TOML: ")
