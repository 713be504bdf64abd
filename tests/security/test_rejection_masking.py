"""Rejected rows never carry a mistyped CPR number in clear into any artifact.

A spreadsheet with CPR numbers typed wrong (eleven digits, a letter for a zero, a
number cell that lost its leading zero) is run by a robot without a browser through
`rpa run`. The rejection messages must show those values masked (``2202**-****``)
in the run's events.jsonl, in every stored text of the queue database but the
``payload`` and ``reference`` columns (the robot needs the number), and in the
output of `rpa run` and `rpa exceptions list`, and on the console's pages for a
viewer and an operator.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from robotlib.cli import app
from robotlib.console import create_app
from robotlib.console._accounts import AccountStore
from robotlib.console._login_limiter import LoginLimiter
from robotlib.project import Project
from robotlib.settings import load_settings

ROBOT = '''\
"""Registers CPR numbers read from input.xlsx; rejects the malformed ones."""

from pathlib import Path

from pydantic import BaseModel, Field

from robotlib import Context, Cpr, Robot
from robotlib.steps.excel import excel_source


class Patient(BaseModel):
    """One row of the sheet."""

    cpr: Cpr = Field(alias="CPR-nummer")
    code: str = Field(alias="Kode")

    model_config = {"populate_by_name": True}


def register(ctx: Context, item: Patient) -> dict[str, int]:
    """Register nothing: the rows that reach here are well-formed."""
    return {"registration": 1}


robot = Robot(
    name="cpr_rows",
    description="Registers CPR numbers.",
    item=Patient,
    source=excel_source(Path(__file__).parents[1] / "input.xlsx", model=Patient),
    reference=["code"],
    process=register,
)
'''

#: The sheet's CPR cells: one well-formed, three mistyped.
CELLS: list[str | int] = ["240512-4123", "220209-40021", "2202O94002", 909689473]

#: Every spelling of the mistyped numbers that must not appear in clear.
CLEAR = ["220209-40021", "22020940021", "2202O94002", "909689473", "0909689473"]

#: Queue columns that hold the CPR number in clear, because the robot needs it.
CPR_COLUMNS = {("work_items", "payload"), ("work_items", "reference")}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with the cpr_rows robot and its input.xlsx."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "project"
    (folder / "robots").mkdir(parents=True)
    (folder / "rpa.toml").write_text('cpr_in_logs = "hash"\n', encoding="utf-8")
    (folder / "robots" / "cpr_rows.py").write_text(ROBOT, encoding="utf-8")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["CPR-nummer", "Kode"])
    for number, cell in enumerate(CELLS, start=1):
        sheet.append([cell, f"K{number}"])
    book.save(folder / "input.xlsx")
    return folder


def cli(project: Path, *args: str) -> str:
    """Run `rpa --project PROJECT ARGS...` and return its output."""
    result = CliRunner().invoke(
        app, ["--project", str(project), *args], env={"COLUMNS": "300"}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.output


def test_mistyped_cpr_numbers_are_masked_everywhere(
    project: Path,
    dump_sqlite: Callable[[Path], dict[str, list[dict[str, str]]]],
) -> None:
    """No mistyped CPR reaches events.jsonl, error fields or the CLI in clear."""
    run_output = cli(project, "run", "cpr_rows")
    exceptions_output = cli(project, "exceptions", "list", "cpr_rows")
    settings = load_settings(project)
    events = "".join(
        path.read_text(encoding="utf-8") for path in settings.logs.rglob("events.jsonl")
    )
    database = dump_sqlite(settings.state_dir / "robotlib.db")
    stored = [
        value
        for table, rows in database.items()
        for row in rows
        for column, value in row.items()
        if (table, column) not in CPR_COLUMNS
    ]
    errors = [
        row["error_message"]
        for row in database["work_items"]
        if row.get("error_message") not in (None, "None", "")
    ]

    assert 3 == len(errors)  # the three mistyped rows were rejected ...
    assert "2202**-**** (11 digits)" in events  # ... and said so, masked
    assert "2202**-**** (9 digits and a letter)" in exceptions_output
    assert "090968-****?" in "".join(errors)
    for text in [run_output, exceptions_output, events, *stored]:
        assert [] == [clear for clear in CLEAR if clear in text]


def test_the_console_shows_rejections_masked_to_every_role(project: Path) -> None:
    """The dashboard, the exception queue, the run and each item's page, as a
    viewer and as an operator: the rejections are there, never in clear."""
    cli(project, "run", "cpr_rows")
    opened = Project(load_settings(project))
    accounts = AccountStore(
        opened.settings.database,
        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    )
    accounts.add("vera", "viewer", "correct horse battery")
    accounts.add("otto", "operator", "correct horse battery")
    try:
        items = opened.backend.items("cpr_rows")
        [run] = opened.backend.runs("cpr_rows")
        pages = [
            "/",
            "/exceptions",
            f"/runs/{run.id}",
            *(f"/items/{item.id}" for item in items),
        ]
        app = create_app(opened, accounts=accounts, limiter=LoginLimiter())
        for user in ("vera", "otto"):
            with TestClient(app, base_url="http://127.0.0.1") as client:
                form = client.get("/login").text
                token = form.split('name="login_token" value="')[1].split('"')[0]
                client.post(
                    "/login",
                    data={
                        "username": user,
                        "password": "correct horse battery",
                        "login_token": token,
                    },
                )
                shown = "".join(client.get(page).text for page in pages)
                assert "2202**-**** (11 digits)" in shown, user
                assert [] == [clear for clear in CLEAR if clear in shown], user
    finally:
        accounts.close()
        opened.close()
