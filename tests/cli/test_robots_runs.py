"""`rpa robots`, `rpa runs` and `rpa runs show`: what there is and what happened."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from robotlib import __version__
from robotlib.queue import QueueBackend
from robotlib.queue.models import Run


@pytest.fixture
def three_runs(
    rpa: Callable[..., Result],
    add_robot: Callable[..., Path],
    input_file: Path,
    backend: QueueBackend,
) -> list[Run]:
    """Two runs of fake_lab (the second loads nothing new), one of other_lab; newest
    first."""
    add_robot("other_lab", description="Registers other results.")
    # exit 3 for a run whose OFFLINE item failed; the second run processes nothing
    for robot, exit_code in (("fake_lab", 3), ("fake_lab", 0), ("other_lab", 3)):
        assert exit_code == rpa("run", robot, "--input", str(input_file)).exit_code
    runs = backend.runs()
    assert ["other_lab", "fake_lab", "fake_lab"] == [run.robot for run in runs]
    return runs


def table_rows(output: str) -> list[list[str]]:
    """The cells of each body row of a table printed to a pipe (tab-separated)."""
    return [line.split("\t") for line in output.splitlines() if "\t" in line][1:]


def test_robots_table_lists_each_robot_with_its_counts(
    rpa: Callable[..., Result], three_runs: list[Run]
) -> None:
    """`rpa robots` shows each robot's description and counts by state."""
    result = rpa("robots")

    assert 0 == result.exit_code
    assert [
        [
            "fake_lab",
            "Registers lab results in the fake lab system.",
            "0",
            "2",
            "3",
            "1",
        ],
        ["other_lab", "Registers other results.", "0", "2", "3", "1"],
    ] == table_rows(result.stdout)


def test_robots_json_has_file_and_counts_by_state(
    rpa: Callable[..., Result], project: Path, three_runs: list[Run]
) -> None:
    """`rpa robots --json` gives name, description, file and every state's count."""
    result = rpa("robots", "--json")

    assert 0 == result.exit_code
    [fake_lab, other_lab] = json.loads(result.stdout)
    assert {
        "name": "fake_lab",
        "description": "Registers lab results in the fake lab system.",
        "file": str(project / "robots" / "fake_lab.py"),
        "counts": {
            "new": 0,
            "in_progress": 0,
            "done": 2,
            "business_exception": 3,
            "failed": 1,
            "resolved": 0,
        },
    } == fake_lab
    assert "other_lab" == other_lab["name"]


def test_robots_before_any_run_shows_zero_counts(rpa: Callable[..., Result]) -> None:
    """A robot that never ran is listed with zeros."""
    result = rpa("robots", "--json")

    assert 0 == result.exit_code
    [robot] = json.loads(result.stdout)
    assert {0} == set(robot["counts"].values())


def test_runs_lists_runs_newest_first(
    rpa: Callable[..., Result], three_runs: list[Run]
) -> None:
    """`rpa runs` shows every run, newest first, with status and counts."""
    result = rpa("runs")

    assert 0 == result.exit_code
    rows = table_rows(result.stdout)
    assert [
        (three_runs[0].id, "other_lab", "completed_with_failures"),
        (three_runs[1].id, "fake_lab", "completed"),
        (three_runs[2].id, "fake_lab", "completed_with_failures"),
    ] == [(row[0], row[1], row[2]) for row in rows]
    assert [["2", "3", "1"], ["0", "0", "0"], ["2", "3", "1"]] == [
        row[5:8] for row in rows
    ]


def test_runs_filters_by_robot_and_count(
    rpa: Callable[..., Result], three_runs: list[Run]
) -> None:
    """--robot keeps one robot's runs; --last keeps the newest N."""
    fake_lab = rpa("runs", "--robot", "fake_lab", "--json")
    last = rpa("runs", "--last", "1", "--json")
    both = rpa("runs", "--robot", "fake_lab", "--last", "1", "--json")

    assert [three_runs[1].id, three_runs[2].id] == [
        r["id"] for r in json.loads(fake_lab.stdout)
    ]
    assert [three_runs[0].id] == [r["id"] for r in json.loads(last.stdout)]
    assert [three_runs[1].id] == [r["id"] for r in json.loads(both.stdout)]


def test_runs_json_has_the_run_record(
    rpa: Callable[..., Result], three_runs: list[Run]
) -> None:
    """`rpa runs --json` gives each run's status, times, counts, host and pid."""
    result = rpa("runs", "--json", "--last", "3")

    assert 0 == result.exit_code
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    oldest = runs[-1]
    assert (three_runs[-1].id, "fake_lab", "completed_with_failures") == (
        oldest["id"],
        oldest["robot"],
        oldest["status"],
    )
    assert {"done": 2, "business_exception": 3, "failed": 1, "retried": 1} == (
        oldest["counts"]
    )
    assert three_runs[-1].started_at.isoformat() == oldest["started_at"]
    assert (three_runs[-1].host, three_runs[-1].pid) == (oldest["host"], oldest["pid"])


def test_runs_of_an_empty_project(rpa: Callable[..., Result]) -> None:
    """A project without runs lists none."""
    result = rpa("runs", "--json")

    assert (0, []) == (result.exit_code, json.loads(result.stdout))


def test_runs_show_by_full_id_and_by_unique_prefix(
    rpa: Callable[..., Result], project: Path, three_runs: list[Run]
) -> None:
    """`rpa runs show` finds a run by its id or a unique prefix and lists its items."""
    run = three_runs[-1]
    full = rpa("runs", "show", run.id)
    prefix = rpa("runs", "show", run.id[:-1])

    assert (0, 0) == (full.exit_code, prefix.exit_code)
    assert full.stdout == prefix.stdout
    lines = full.stdout.splitlines()
    assert f"Run {run.id} of fake_lab: completed_with_failures" == lines[0]
    folder = project / "logs" / "fake_lab" / run.id
    assert f"  folder: {folder}" in lines
    assert [
        ["1", "010190-****|NPU02319", "done"],
        ["2", "240512-****|NPU02319", "business_exception"],
        ["3", "020290-****|NPU01370", "done"],
        ["4", "030390-****|NPU03230", "business_exception"],
        ["5", "040490-****|NPU19748", "business_exception"],
        ["6", "050590-****|OFFLINE", "failed"],
    ] == [row[:3] for row in table_rows(full.stdout) if row[0]]


def test_runs_show_json_and_show_cpr(
    rpa: Callable[..., Result], three_runs: list[Run], references: list[str]
) -> None:
    """`rpa runs show --json --show-cpr` gives the run, its folder and clear items."""
    run = three_runs[-1]
    result = rpa("runs", "show", run.id, "--json", "--show-cpr")

    assert 0 == result.exit_code
    shown = json.loads(result.stdout)
    assert run.id == shown["run"]["id"]
    assert references == [item["reference"] for item in shown["items"]]


def test_runs_show_of_a_run_without_items(
    rpa: Callable[..., Result], three_runs: list[Run]
) -> None:
    """The second fake_lab run loaded nothing and lists no items."""
    result = rpa("runs", "show", three_runs[1].id)

    assert 0 == result.exit_code
    assert [] == table_rows(result.stdout)


def test_runs_show_unknown_or_ambiguous_id_exits_2(
    rpa: Callable[..., Result], three_runs: list[Run]
) -> None:
    """An id no run has, or a prefix of several, exits 2 and says which."""
    unknown = rpa("runs", "show", "19990101T000000Z-abcdef")
    ambiguous = rpa("runs", "show", "2")

    assert (2, "no run '19990101T000000Z-abcdef'\n") == (
        unknown.exit_code,
        unknown.stderr,
    )
    assert (2, "'2' is ambiguous\n") == (ambiguous.exit_code, ambiguous.stderr)


def test_runs_show_names_the_code_a_run_ran(
    rpa: Callable[..., Result], project: Path, input_file: Path
) -> None:
    """A run records robotlib's version, the robot file's SHA-256 and the project's
    commit; `rpa runs show` prints them, its JSON has them whole."""
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@x"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "robots"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    robot_file = (project / "robots" / "fake_lab.py").read_bytes()
    digest = hashlib.sha256(robot_file).hexdigest()
    rpa("run", "fake_lab", "--input", str(input_file))
    [run] = json.loads(rpa("runs", "--json").stdout)

    shown = rpa("runs", "show", run["id"])
    as_json = json.loads(rpa("runs", "show", run["id"], "--json").stdout)["run"]

    assert (
        f"  code: robotlib {__version__}, robot file SHA-256 {digest[:12]}, "
        f"commit {commit[:12]}"
    ) in shown.stdout.splitlines()
    assert (__version__, digest, commit) == (
        as_json["robotlib_version"],
        as_json["robot_sha256"],
        as_json["git_commit"],
    )


def test_a_run_outside_a_git_checkout_says_so(
    rpa: Callable[..., Result], three_runs: list[Run]
) -> None:
    """No commit where the project is no git checkout; the file's hash is there."""
    shown = rpa("runs", "show", three_runs[-1].id)

    [line] = [line for line in shown.stdout.splitlines() if "code:" in line]
    assert line.endswith("commit not in a git checkout")
    assert re.search(r"SHA-256 [0-9a-f]{12},", line)
