"""The legacy_desktop robot types exactly the right results into the legacy client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from robotlib import ApplicationError, Context, Stage
from robotlib.testing import ItemState, RobotRun, WorkItem, load_robot

ROBOTS = Path(__file__).resolve().parents[2] / "robots"
NAME = "legacy_desktop"

# (cpr, test code, value, unit) of each record the example input should leave.
REGISTERED = [
    ("010473-9321", "NPU02319", 8.4, "mmol/L"),
    ("020237-4149", "NPU02593", 6.1, "10^9/L"),
    ("040362-9038", "NPU18016", 87.0, "µmol/L"),
    ("050814-4621", "NPU19748", 12.5, "mg/L"),
]
REFUSED = {
    "061244-9698|NPU99999|5,0": (
        "refused",
        "The legacy lab client refused the result: Unknown test code",
    ),
    "080652-4384|NPU02319|hæmolyseret": (
        "refused",
        "The legacy lab client refused the result: Value must be a number",
    ),
}


@dataclass
class LegacyRun:
    """One run of the robot (the kit's) and the client's store file."""

    run: RobotRun
    store: Path

    @property
    def result(self) -> Any:
        """How the run ended."""
        return self.run.result

    def records(self) -> list[dict[str, Any]]:
        """The registrations in the client's store, oldest first."""
        text = self.store.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    def items(self) -> list[WorkItem]:
        """The robot's work items in the queue."""
        return self.run.items


@pytest.fixture
def run_legacy(
    display: Any, run_robot: Callable[..., RobotRun], tmp_path: Path
) -> Callable[..., LegacyRun]:
    """Return a runner of the robot on the test display, with one queue per test."""

    def run(*, store: str = "legacy_lab_store.jsonl", **options: Any) -> LegacyRun:
        if store != "legacy_lab_store.jsonl":
            options["credentials"] = {"legacy_lab": {"store": store}}
        return LegacyRun(run_robot(NAME, **options), tmp_path / store)

    return run


def test_registrations_and_exceptions(run_legacy: Callable[..., LegacyRun]) -> None:
    """Good rows are stored once and verified; refused rows carry the client's text."""
    run = run_legacy()
    assert 0 == run.result.exit_code, run.result.note

    records = run.records()
    assert sorted(REGISTERED) == sorted(
        (r["cpr"], r["test_code"], r["value"], r["unit"]) for r in records
    )
    assert ["LAB-1", "LAB-2", "LAB-3", "LAB-4"] == [r["id"] for r in records]

    items = run.items()
    assert 7 == len(items)  # eight rows, one of them twice
    done = {
        item.output["lab_id"]: item.reference
        for item in items
        if item.state is ItemState.DONE
    }
    stored = {
        r["id"]: f"{r['cpr']}|{r['test_code']}|{r['value']:g}".replace(".", ",")
        for r in records
    }
    assert stored == done
    refused = {
        item.reference: (item.error_type, item.error_message)
        for item in items
        if item.state is ItemState.BUSINESS_EXCEPTION and "|" in item.reference
    }
    assert REFUSED == refused
    rejected = [
        item.error_message or ""
        for item in items
        if item.state is ItemState.BUSINESS_EXCEPTION and "|" not in item.reference
    ]
    where = "legacy_lab.xlsx, sheet 'Resultater', row 8: column 'CPR-nummer'"
    assert [True] == [reason.startswith(where) for reason in rejected]


def test_second_run_registers_nothing_more(
    run_legacy: Callable[..., LegacyRun],
) -> None:
    """Loading the same spreadsheet again adds no item and no registration."""
    first = run_legacy()
    before = first.records()

    second = run_legacy()

    loaded = second.result.loaded
    assert (0, 0) == (second.result.exit_code, loaded.added if loaded else None)
    assert before == second.records()


def test_retry_after_a_save_finds_the_result_instead_of_saving_again(
    run_legacy: Callable[..., LegacyRun], tmp_path: Path
) -> None:
    """A crash after the save is retried; the precheck finds the record in the store."""
    register = load_robot(NAME, project_dir=ROBOTS.parent).process[0].run

    def register_then_crash(ctx: Context, item: Any) -> dict[str, Any]:
        output: dict[str, Any] = register(ctx, item)
        if ctx.attempt == 1:
            raise ApplicationError("the client hung after saving")
        return output

    sheet = tmp_path / "one.csv"
    sheet.write_text(
        "CPR-nummer;Analysekode;Værdi;Enhed\n010473-9321;NPU02319;8,4;mmol/L\n",
        encoding="utf-8",
    )
    run = run_legacy(
        input=sheet,
        store="legacy/store.jsonl",
        process=[Stage("register result", register_then_crash)],
    )

    [item] = run.items()
    assert (ItemState.DONE, 2, {"lab_id": "LAB-1"}) == (
        item.state,
        item.attempts,
        item.output,
    )
    expected = [
        {
            "id": "LAB-1",
            "cpr": "010473-9321",
            "test_code": "NPU02319",
            "value": 8.4,
            "unit": "mmol/L",
        }
    ]
    assert expected == run.records()


def test_loading_the_robot_needs_no_display() -> None:
    """rpa check loads the robot without a display and without the desktop steps."""
    environ = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    code = (
        "import sys; from pathlib import Path; "
        "from robotlib.testing import load_robot; "
        f"robot = load_robot({NAME!r}, project_dir=Path({str(ROBOTS.parent)!r})); "
        "print(robot.name, 'robotlib.steps.desktop' in sys.modules)"
    )

    done = subprocess.run(
        [sys.executable, "-c", code],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )

    assert (0, f"{NAME} False\n") == (done.returncode, done.stdout), done.stderr
