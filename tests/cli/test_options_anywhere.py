"""Options before or after command names and arguments, as users write them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from robotlib.cli import app
from robotlib.queue import QueueBackend
from robotlib.queue.models import ItemState


def test_a_commands_option_before_its_name_is_the_commands(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> None:
    """`rpa --json robots`, `rpa exceptions --json ROBOT` and `rpa runs --json show
    RUN` act as with --json at the end: once a silently ignored option."""
    assert 3 == rpa("run", "fake_lab", "--input", str(input_file)).exit_code
    [run] = backend.runs()

    assert json.loads(rpa("robots", "--json").stdout) == json.loads(
        rpa("--json", "robots").stdout
    )
    before = rpa("exceptions", "--json", "fake_lab")
    after = rpa("exceptions", "fake_lab", "--json")
    assert 0 == before.exit_code
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert 4 == len(json.loads(before.stdout))  # 3 business exceptions, 1 failed
    shown = rpa("runs", "--json", "show", run.id)
    assert (0, run.id) == (shown.exit_code, json.loads(shown.stdout)["run"]["id"])


def test_the_project_option_after_the_command(project: Path) -> None:
    """--project (-p) is the main command's, yet goes after the command and its
    arguments too: `rpa robots --json -p DIR`."""
    runner = CliRunner()
    here = str(project)

    def run(*args: str) -> Any:
        result = runner.invoke(app, args, env={"RPA_PROJECT_DIR": "/nonexistent"})
        assert 0 == result.exit_code, (args, result.output)
        return json.loads(result.stdout)

    assert ["fake_lab"] == [r["name"] for r in run("robots", "--json", "-p", here)]
    assert ["fake_lab"] == [
        r["name"] for r in run("robots", f"--project={here}", "--json")
    ]
    assert [] == run("queue", "fake_lab", "--json", "--project", here)["items"]


def test_a_group_option_that_does_not_apply_is_refused(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> None:
    """`rpa runs --robot R show RUN` names the option instead of ignoring it, and
    so does --json before `rpa exceptions retry`, which prints no JSON."""
    rpa("run", "fake_lab", "--input", str(input_file))
    [run] = backend.runs()

    robot = rpa("runs", "--robot", "fake_lab", "show", run.id)
    retry = rpa("exceptions", "--json", "retry", "1", "--note", "fixed")

    assert (2, 2) == (robot.exit_code, retry.exit_code)
    assert "'--robot': applies to `rpa runs` alone, not to `rpa runs show`" in (
        robot.stderr
    )
    assert "'--json': applies to `rpa exceptions` alone" in retry.stderr


def test_option_values_that_look_like_options_stay_values(
    rpa: Callable[..., Result], input_file: Path, backend: QueueBackend
) -> None:
    """A note of "--json" is the note: only options move, never their values."""
    rpa("run", "fake_lab", "--input", str(input_file))
    failed = [i for i in backend.items("fake_lab") if i.state is ItemState.FAILED]

    result = rpa("exceptions", "retry", str(failed[0].id), "--note", "--json")

    assert 0 == result.exit_code, result.output
    [entry] = backend.audit_log(action="retry")
    assert "--json" == entry.note
