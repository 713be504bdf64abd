"""`rpa preflight`: log in and check the pages, exit codes, --json, queue untouched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from robotlib.cli import app
from robotlib.queue import QueueBackend

PROBLEM = "the registration page of 240512-4123 has no 'Save' button"


def fail_preflights(project: Path, message: str = PROBLEM) -> None:
    """Make the fake_lab robot's preflight raise ``message``."""
    (project / "lab_system" / "preflight_fails").write_text(message, encoding="utf-8")


def test_a_passing_preflight_exits_0_with_the_log(
    rpa: Callable[..., Result],
    project: Path,
    backend: QueueBackend,
    registrations: Callable[[], list[dict[str, Any]]],
) -> None:
    """It says it passed, what ran and where its log is; the queue stays empty."""
    result = rpa("preflight", "fake_lab")

    assert 0 == result.exit_code, result.output
    first, second = result.stdout.splitlines()
    assert first.startswith("Preflight of fake_lab passed in ")
    assert first.endswith(" s (setup and preflight)")
    [folder] = (project / "logs" / "fake_lab").iterdir()
    assert folder.name.endswith("-preflight")
    assert f"  log: {folder / 'events.jsonl'}" == second
    assert (folder / "events.jsonl").is_file()
    assert ([], [], []) == (backend.runs(), backend.items("fake_lab"), registrations())


def test_a_failing_preflight_exits_1_with_the_reason(
    rpa: Callable[..., Result],
    project: Path,
    backend: QueueBackend,
    full_cprs: Callable[[str], list[str]],
) -> None:
    """It says FAILED with the robot's message, CPR number hashed, and a screenshot."""
    fail_preflights(project)

    result = rpa("preflight", "fake_lab")

    assert 1 == result.exit_code
    first, second = result.stdout.splitlines()
    assert first.startswith(
        "Preflight of fake_lab FAILED: the registration page of cpr:"
    )
    assert first.endswith(" has no 'Save' button")
    assert [] == full_cprs(result.output)
    [folder] = (project / "logs" / "fake_lab").iterdir()
    assert f"  log: {folder / 'events.jsonl'}" == second
    assert ["preflight-fake-lab.png"] == [p.name for p in folder.glob("*.png")]
    assert [] == backend.runs()


def test_json_has_the_fields_the_scheduler_reads(
    rpa: Callable[..., Result], project: Path
) -> None:
    """--json prints robot, ok, message, log, duration_s and checked."""
    passed = json.loads(rpa("preflight", "fake_lab", "--json").stdout)
    fail_preflights(project, "the lab system answered HTTP 503")
    failed_run = rpa("preflight", "fake_lab", "--json")
    failed = json.loads(failed_run.stdout)

    assert 1 == failed_run.exit_code
    for answer in (passed, failed):
        assert ["checked", "duration_s", "log", "message", "ok", "robot"] == sorted(
            answer
        )
        assert Path(answer["log"]).is_file()
        assert answer["log"].endswith("-preflight/events.jsonl")
        assert isinstance(answer["duration_s"], float)
    assert (True, "", "fake_lab", "setup and preflight") == (
        passed["ok"],
        passed["message"],
        passed["robot"],
        passed["checked"],
    )
    assert (False, "the lab system answered HTTP 503") == (
        failed["ok"],
        failed["message"],
    )


def test_a_robot_without_a_preflight_is_checked_by_its_setup(
    rpa: Callable[..., Result], add_robot: Callable[..., Path]
) -> None:
    """Without a preflight, setup (the login) is what is checked, and it says so."""
    add_robot("plain_lab", preflight=False)

    result = rpa("preflight", "plain_lab", "--json")

    assert 0 == result.exit_code
    answer = json.loads(result.stdout)
    assert (True, "setup only (the robot declares no preflight)") == (
        answer["ok"],
        answer["checked"],
    )


def test_an_unknown_robot_exits_2(rpa: Callable[..., Result], project: Path) -> None:
    """A robot name the project does not have exits 2 and names those it has."""
    result = rpa("preflight", "nope")

    assert 2 == result.exit_code
    assert result.stderr.startswith("no robot named 'nope' in ")
    assert "fake_lab" in result.stderr
    assert not (project / "logs" / "nope").exists()


def test_help_says_what_it_does() -> None:
    """`rpa preflight --help` documents the robot argument, --json and exit codes."""
    result = CliRunner().invoke(app, ["preflight", "--help"], env={"COLUMNS": "200"})

    assert 0 == result.exit_code
    for word in ("The robot's name", "--json", "changing nothing", "0 passed"):
        assert word in result.stdout


def test_json_output_is_the_object_alone_with_stderr_merged(
    rpa_executable: Path, project: Path
) -> None:
    """Run as a scheduler runs it (stderr into stdout), a failure is one JSON object."""
    fail_preflights(project)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}

    completed = subprocess.run(
        [str(rpa_executable), "-p", str(project), "preflight", "fake_lab", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert 1 == completed.returncode
    answer = json.loads(completed.stdout)
    assert (False, "fake_lab") == (answer["ok"], answer["robot"])
    assert answer["message"].startswith("the registration page of cpr:")


def test_sigterm_ends_it_as_interrupted_after_teardown(
    rpa_executable: Path, project: Path
) -> None:
    """SIGTERM (a scheduler's time limit) gives "interrupted" and runs teardown."""
    hold = project / "robots" / "slow_lab.py"
    hold.write_text(SLOW_ROBOT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    started = project / "started"

    with subprocess.Popen(
        [str(rpa_executable), "-p", str(project), "preflight", "slow_lab", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as child:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        output, _ = child.communicate(timeout=60)

    assert 1 == child.returncode
    answer = json.loads(output)
    assert (False, "interrupted") == (answer["ok"], answer["message"])
    assert (project / "torn_down").exists()


SLOW_ROBOT = '''\
"""A robot whose preflight waits until it is stopped."""

import time

from pydantic import BaseModel

from robotlib import Context, Robot


class Item(BaseModel):
    """An item it never gets."""

    n: int


def wait(ctx: Context) -> None:
    """Preflight: say it started, then wait."""
    (ctx.settings.project_dir / "started").touch()
    time.sleep(60)


def close(ctx: Context) -> None:
    """Teardown: leave a mark."""
    (ctx.settings.project_dir / "torn_down").touch()


robot = Robot(
    name="slow_lab",
    item=Item,
    reference=["n"],
    process=lambda ctx, item: None,
    preflight=wait,
    teardown=close,
)
'''
