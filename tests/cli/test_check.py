"""`rpa check`: every robot validated without running, problems named by file:line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

BAD_NAME = '''\
"""A robot whose name is not an identifier."""

from pydantic import BaseModel

from robotlib import Robot


class Item(BaseModel):
    n: int


def process(ctx, item):
    return None


robot = Robot(name="Bad Name", item=Item, reference=["n"], process=process)
'''

SYNTAX_ERROR = '''\
"""A robot file that is not Python."""

robot = = None
'''


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the line of ``text`` holding ``fragment``."""
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return number


def test_good_project_exits_0_listing_its_robots(
    rpa: Callable[..., Result], project: Path, add_robot: Callable[..., Path]
) -> None:
    """A project whose robots all load exits 0 and lists each with its file."""
    other = add_robot("other_lab")

    result = rpa("check")

    assert 0 == result.exit_code
    assert [
        f"ok  fake_lab  ({project / 'robots' / 'fake_lab.py'})",
        f"ok  other_lab  ({other})",
        "2 robot(s) checked, no problems.",
    ] == result.stdout.splitlines()


def test_broken_robots_exit_2_with_each_problem_at_file_and_line(
    rpa: Callable[..., Result], project: Path
) -> None:
    """An invalid declaration and a syntax error are each reported as file:line."""
    robots = project / "robots"
    (robots / "bad_name.py").write_text(BAD_NAME, encoding="utf-8")
    (robots / "broken.py").write_text(SYNTAX_ERROR, encoding="utf-8")

    result = rpa("check")

    assert 2 == result.exit_code
    bad_line = line_of(BAD_NAME, 'name="Bad Name"')
    syntax_line = line_of(SYNTAX_ERROR, "robot = = None")
    assert (16, 3) == (bad_line, syntax_line)
    assert [
        f"ok  fake_lab  ({robots / 'fake_lab.py'})",
        f"error  {robots / 'bad_name.py'}:{bad_line}: invalid Robot: name: a robot "
        "name is lowercase letters, digits and _ and starts with a letter, e.g. "
        "'lab_results' (got 'Bad Name')",
        f"error  {robots / 'broken.py'}:{syntax_line}: syntax error: invalid syntax",
    ] == result.stdout.splitlines()
    assert "2 problem(s) found.\n" == result.stderr


def test_json_lists_robots_and_problems_with_the_same_exit_code(
    rpa: Callable[..., Result], project: Path
) -> None:
    """--json prints one object a program can read: robots, jobs, each problem."""
    robots = project / "robots"
    good = rpa("check", "--json")
    (robots / "broken.py").write_text(SYNTAX_ERROR, encoding="utf-8")
    bad = rpa("check", "--json")

    assert (0, 2) == (good.exit_code, bad.exit_code)
    assert {
        "ok": True,
        "robots": [{"name": "fake_lab", "file": str(robots / "fake_lab.py")}],
        "jobs": [],
        "problems": [],
    } == json.loads(good.stdout)
    found = json.loads(bad.stdout)
    assert (False, ["fake_lab"]) == (found["ok"], [r["name"] for r in found["robots"]])
    assert [
        {
            "file": str(robots / "broken.py"),
            "line": 3,
            "message": "syntax error: invalid syntax",
        }
    ] == found["problems"]


def test_running_a_broken_robot_exits_2_naming_file_and_line(
    rpa: Callable[..., Result], project: Path
) -> None:
    """`rpa run` of a robot whose file is invalid exits 2 with the file and line."""
    path = project / "robots" / "bad_name.py"
    path.write_text(BAD_NAME, encoding="utf-8")

    result = rpa("run", "bad_name")

    assert 2 == result.exit_code
    assert result.stderr.startswith(f"{path}:16: invalid Robot: name: ")


def test_robot_file_failing_at_import_names_the_line(
    rpa: Callable[..., Result], project: Path
) -> None:
    """An exception while importing a robot file is reported at its line."""
    path = project / "robots" / "needs_module.py"
    path.write_text('"""Imports what is not there."""\n\nimport epj_client\n')

    result = rpa("check")

    assert 2 == result.exit_code
    assert (
        f"error  {path}:3: ModuleNotFoundError: No module named 'epj_client'"
        in result.stdout.splitlines()
    )


def test_project_without_robots_folder_exits_2(
    rpa: Callable[..., Result], project: Path
) -> None:
    """A folder with no robots/ is reported, not taken for an empty project."""
    for path in (project / "robots").iterdir():
        path.unlink()
    (project / "robots").rmdir()

    result = rpa("check")

    assert 2 == result.exit_code
    assert [f"error  {project / 'robots'}: there is no robots folder here"] == (
        result.stdout.splitlines()
    )
