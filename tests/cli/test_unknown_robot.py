"""Every command given an unknown robot exits 2 and lists the robots there are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

COMMANDS = [
    ("run", "nosuch"),
    ("worker", "nosuch"),
    ("preflight", "nosuch"),
    ("queue", "nosuch"),
    ("exceptions", "list", "nosuch"),
    ("exceptions", "nosuch"),
    ("runs", "--robot", "nosuch"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_robot_exits_2_with_the_list(
    rpa: Callable[..., Result], command: tuple[str, ...]
) -> None:
    """`rpa queue nosuch` printed an empty table and exited 0."""
    result = rpa(*command)

    assert 2 == result.exit_code, result.stdout
    assert "no robot named 'nosuch'" in result.stderr
    assert "(robots there: fake_lab)" in result.stderr
    assert "" == result.stdout


def test_a_removed_robot_s_queue_can_still_be_reviewed(
    rpa: Callable[..., Result], input_file: Path, project: Path
) -> None:
    """A robot whose file is gone still has its items in the database."""
    folder = project
    rpa("run", "fake_lab", "--input", str(input_file), "--limit", "1")
    (folder / "robots" / "fake_lab.py").rename(folder / "robots" / "old_lab.txt")

    result = rpa("queue", "fake_lab")

    assert 0 == result.exit_code, result.stderr
    assert "done 1" in result.stdout
