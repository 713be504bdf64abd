"""The daily_report robot's workbook holds the sandbox's lab results, CPR masked."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from robotlib import ApplicationError
from robotlib.pytest_plugin import Sandbox
from robotlib.testing import ItemState, load_robot

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).resolve().parents[2]
ROBOTS = PROJECT / "robots"
DEPARTMENTS = ["MED", "KIR", "AKM", "KAR", "ORT"]  # the input's order


def _expected(run: Any, rpa_sandbox: Sandbox) -> dict[str, Counter[str]]:
    """Per department, the sandbox's results per test code in the items' periods."""
    periods = {
        item.payload["department"]: (
            date.fromisoformat(item.payload["date_from"]),
            date.fromisoformat(item.payload["date_to"]),
        )
        for item in run.backend.items("daily_report")
        if item.state is ItemState.DONE
    }
    department = {
        p["cpr"]: p["department"] for p in rpa_sandbox.api("/patients?limit=1000")
    }
    expected: dict[str, Counter[str]] = {code: Counter() for code in periods}
    for result in rpa_sandbox.api("/lab-results"):
        code = department[result["cpr"]]
        sampled = date.fromisoformat(result["sampled_at"][:10])
        if code in periods and periods[code][0] <= sampled <= periods[code][1]:
            expected[code][result["code"]] += 1
    return expected


def _table(sheet: Any) -> list[dict[str, Any]]:
    """The rows of the results table that starts in A1."""
    header = [cell.value for cell in sheet[1]]
    width = header.index(None) if None in header else len(header)
    return [
        dict(zip(header[:width], row[:width], strict=True))
        for row in sheet.iter_rows(min_row=2, values_only=True)
        if row[0] is not None
    ]


def test_report_matches_the_sandbox(
    run_robot: Callable[..., Any], rpa_sandbox: Sandbox
) -> None:
    """Each department's sheet, chart and summary count match the sandbox's data."""
    run = run_robot("daily_report")
    assert 0 == run.result.exit_code, run.result.note

    expected = _expected(run, rpa_sandbox)
    assert DEPARTMENTS == list(expected)
    assert all(sum(counts.values()) > 0 for counts in expected.values())
    items = run.backend.items("daily_report")
    outputs = {i.payload["department"]: i.output for i in items if i.output}
    assert {
        code: {"rows": sum(counts.values()), "per_code": dict(counts)}
        for code, counts in expected.items()
    } == outputs
    reasons = [i.error_message or "" for i in items if i.state.value != "done"]
    assert 2 == len(reasons)
    assert any("The worklist has no department 'XYZ'" in r for r in reasons)
    assert any("'Til' is before 'Fra'" in r for r in reasons)

    report = load_workbook(run.result.run_dir / "daily_report.xlsx")
    assert ["Summary", *sorted(DEPARTMENTS)] == report.sheetnames
    for code in DEPARTMENTS:
        rows = _table(report[code])
        assert expected[code] == Counter(row["Test code"] for row in rows)
        assert all(re.fullmatch(r"\d{6}-\*{4}", row["CPR"]) for row in rows)
        assert 1 == len(report[code]._charts)
    summary = {key: value for key, value in report["Summary"].values}
    total = sum(sum(counts.values()) for counts in expected.values())
    assert total == summary["Results in all"]
    assert ", ".join(sorted(DEPARTMENTS)) == summary["Departments"]
    assert [] == list(run.result.run_dir.rglob("worklist.xlsx"))


def test_the_report_is_written_once_at_the_end_not_at_a_restart(
    run_robot: Callable[..., Any],
) -> None:
    """A restart (teardown, setup) writes nothing; finish writes every department.

    Before the run-level finish hook, the report was written in teardown, so at
    every restart a partial report replaced the last one.
    """
    robot = load_robot("daily_report", project_dir=PROJECT)
    collect, write_report = robot.process[0].run, robot.finish
    assert write_report is not None
    failures: list[str] = []
    written: list[list[str]] = []
    restarts: list[bool] = []

    def flaky(ctx: Any, item: Any) -> Any:
        if item.department == "KIR" and not failures:
            failures.append(item.department)
            raise ApplicationError("the worklist did not answer")
        return collect(ctx, item)

    def finish(ctx: Any) -> None:
        write_report(ctx)
        written.append(load_workbook(ctx.run_dir / "daily_report.xlsx").sheetnames)

    def teardown(ctx: Any) -> None:
        restarts.append((ctx.run_dir / "daily_report.xlsx").exists())

    run = run_robot("daily_report", process=flaky, finish=finish, teardown=teardown)
    assert 0 == run.exit_code, run.result.note
    assert ["KIR"] == failures

    # the restart after KIR's failure and the last teardown found no report yet
    assert [False, False] == restarts
    assert [["Summary", *sorted(DEPARTMENTS)]] == written
    report = load_workbook(run.result.run_dir / "daily_report.xlsx")
    summary = {key: value for key, value in report["Summary"].values}
    done = [i for i in run.items if i.output]
    assert [2] == [i.attempts for i in done if i.payload["department"] == "KIR"]
    assert sum(i.output["rows"] for i in done) == summary["Results in all"]
