"""Runs started by people, in a real headless Chromium: run a robot now, upload an
input file, see its dry-run and confirm; a file the robot cannot read is refused.
Every start, check and refusal is in the audit trail."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from openpyxl import Workbook
from playwright.sync_api import Page, expect

from robotlib.console import create_app
from robotlib.console._accounts import AccountStore
from robotlib.project import Project
from robotlib.queue.models import ItemState
from robotlib.settings import load_settings

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}

ROBOT_FILE = '''\
"""Registers lab values (a test robot): appends each to done.jsonl."""

import json
from pathlib import Path

from pydantic import BaseModel, Field

from robotlib import Context, Robot
from robotlib.steps.excel import excel_source


class Row(BaseModel):
    cpr: str = Field(alias="CPR-nummer")
    code: str = Field(alias="Analysekode")
    value: float = Field(alias="Værdi")


def register(ctx: Context, item: Row) -> None:
    with (ctx.settings.project_dir / "done.jsonl").open("a") as file:
        file.write(json.dumps({"code": item.code, "value": item.value}) + "\\n")


robot = Robot(
    name="lab",
    description="Registers lab values from the laboratory export.",
    item=Row,
    source=excel_source(Path(__file__).parents[1] / "inputs" / "lab.xlsx", model=Row),
    reference=("cpr", "code"),
    process=register,
)
'''


def write_workbook(path: Path, rows: list[list[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["CPR-nummer", "Analysekode", "Værdi"])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


@dataclass
class Console:
    url: str
    project: Project
    open_page: Callable[..., Page]

    def done(self) -> list[dict[str, Any]]:
        path = self.project.settings.project_dir / "done.jsonl"
        lines = path.read_text("utf-8").splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]

    def audit(self) -> list[tuple[str, str, str]]:
        entries = self.project.backend.audit_log(limit=50)
        return [(e.actor, e.action, e.note) for e in reversed(entries)]


@pytest.fixture
def console(robot_project: Callable[[str], Path], serve: Any) -> Iterator[Console]:
    """A project with the robot ``lab`` and its own input (two rows); otto is an
    operator, vera a viewer."""
    folder = robot_project(ROBOT_FILE)
    (folder / "inputs").mkdir()
    write_workbook(
        folder / "inputs" / "lab.xlsx",
        [["010190-1234", "NPU02319", 7.1], ["020290-2345", "NPU01370", 140]],
    )
    project = Project(load_settings(folder))
    project.backend  # noqa: B018 - creates the tables the accounts use
    accounts = AccountStore(project.settings.database, hasher=PasswordHasher(**FAST))
    accounts.add("otto", "operator", PASSWORD)
    accounts.add("vera", "viewer", PASSWORD)
    with serve(create_app(project, accounts=accounts)) as served:
        yield Console(served.url, project, served.open_page)
    accounts.close()
    project.close()


def log_in(console: Console, name: str) -> Page:
    page = console.open_page()
    page.goto("/robots")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Robots")).to_be_visible()
    return page


def expect_run_completed(page: Page) -> None:
    """The run's page, reloaded until its run has ended."""
    status = page.locator("td.status")
    for _ in range(120):
        if status.inner_text() in ("completed", "completed with failures"):
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(status).to_have_text("completed")


def test_an_operator_runs_a_robot_now(console: Console) -> None:
    """Run now: the robot runs with its own input in a process of its own, the
    page shows the run, and the audit trail names who started it."""
    page = log_in(console, "otto")
    row = page.locator("tr[data-robot='lab']")
    expect(row).to_contain_text("Registers lab values from the laboratory export.")

    row.get_by_role("button", name="Run now").click()

    expect(page.get_by_role("status")).to_contain_text("lab started: run ")
    expect(page.get_by_role("heading", name="Run ")).to_be_visible()
    expect_run_completed(page)
    assert sorted(r["code"] for r in console.done()) == ["NPU01370", "NPU02319"]
    [(actor, action, note)] = [e for e in console.audit() if e[1] == "run_started"]
    run_id = page.url.rsplit("/", 1)[-1]
    assert (actor, action, note) == ("otto", "run_started", f"lab run {run_id}: now")


def test_an_upload_is_checked_then_run_when_confirmed(
    console: Console, tmp_path: Path
) -> None:
    """Upload a corrected export: the dry-run shows 3 rows, 2 new, 1 refused with
    its reason (CPR masked) and nothing is run until confirmed; then exactly the
    checked file runs."""
    export = write_workbook(
        tmp_path / "lab 0101901234.xlsx",  # a name with a CPR number in it
        [
            ["010190-1234", "NPU02319", 7.1],
            ["030390-3456", "NPU03230", 4.2],
            ["040490-4567", "NPU01370", "not a number"],
        ],
    )
    page = log_in(console, "otto")
    row = page.locator("tr[data-robot='lab']")

    row.get_by_label("Input file").set_input_files(str(export))
    row.get_by_role("button", name="Check the file").click()

    expect(page.get_by_role("heading", name="Check the input of lab")).to_be_visible()
    expect(page.locator("strong")).to_have_text("lab 010190-****.xlsx")
    expect(page.locator("#rows")).to_have_text("3")
    expect(page.locator("#new")).to_have_text("2")
    expect(page.locator("#invalid")).to_have_text("1")
    refused = page.locator("#refused-rows tbody tr")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("lab 010190-____.xlsx, sheet 'Sheet', row 4")
    expect(refused).to_contain_text("column 'Værdi': Input should be a valid number")
    assert "4567" not in page.content()
    assert console.done() == [], "nothing runs before the operator confirms"
    stored = list((console.project.settings.state_dir / "uploads").glob("*/*"))
    assert [p.name for p in stored] == ["lab 010190-____.xlsx"]

    page.get_by_role("button", name="Confirm: run lab on this file").click()

    expect(page.get_by_role("status")).to_contain_text("lab started: run ")
    expect_run_completed(page)
    assert sorted(r["code"] for r in console.done()) == ["NPU02319", "NPU03230"]
    backend = console.project.backend
    [refused_item] = backend.items("lab", states=[ItemState.BUSINESS_EXCEPTION])
    assert "lab 010190-____.xlsx, sheet 'Sheet', row 4" in refused_item.reference
    actions = [(a, action) for a, action, _ in console.audit()]
    assert actions[-2:] == [("otto", "upload_checked"), ("otto", "run_started")]
    notes = " ".join(note for _, _, note in console.audit())
    assert "0101901234" not in notes and "lab 010190-" in notes


def test_a_file_the_robot_cannot_read_is_refused(
    console: Console, tmp_path: Path
) -> None:
    """A CSV renamed .xlsx: refused with the reader's reason, not kept, nothing
    started; the refusal is audited. A viewer sees no start buttons at all."""
    fake = tmp_path / "export.xlsx"
    fake.write_text(
        "CPR-nummer;Analysekode;Værdi\n010190-1234;NPU02319;7,1\n", "cp1252"
    )
    page = log_in(console, "otto")
    row = page.locator("tr[data-robot='lab']")

    row.get_by_label("Input file").set_input_files(str(fake))
    row.get_by_role("button", name="Check the file").click()

    expect(
        page.get_by_role("heading", name="Refused: nothing was loaded or started")
    ).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("export.xlsx")
    expect(
        page.get_by_role("button", name="Confirm: run lab on this file")
    ).to_have_count(0)
    assert list((console.project.settings.state_dir / "uploads").glob("*/*")) == []
    assert console.project.backend.runs("lab") == []
    [(actor, action, note)] = [e for e in console.audit() if e[1].startswith("upload")]
    assert (actor, action) == ("otto", "upload_refused")
    assert note.startswith("lab: export.xlsx: ")

    viewer = log_in(console, "vera")
    expect(viewer.locator("tr[data-robot='lab']")).to_be_visible()
    expect(viewer.get_by_role("button", name="Run now")).to_have_count(0)
