"""Reports the lab results of each department for a period, from the EPJ's worklist.

Each input row ("Afdeling", "Fra", "Til": dd-mm-yyyy, or "i dag", "i går", "i
dag-30") is one item: filter the worklist, download its Excel export and check it
holds as many rows as the page says. When the run has collected every item,
``finish`` writes ``daily_report.xlsx`` in the run folder: a summary, and per
department the results, CPR numbers masked, with a bar chart per test code.

Run it:  rpa run daily_report --input robots/inputs/daily_report.csv
"""

import re
import tempfile
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

from robotlib import (
    ApplicationError,
    Context,
    InputError,
    Robot,
    RowError,
    TargetSystemError,
)
from robotlib.cpr import mask_cpr
from robotlib.steps import browser, reports
from robotlib.steps.excel import excel_source, read_items

INPUT = Path(__file__).parent / "inputs" / "daily_report.csv"
COLLECTED = "daily_report.collected"  # in ctx.shared: what finish reports
FIX = "check the input"
SHOWN = ("Registration id", "Sampled at", "CPR", "Test code", "Test", "Value", "Unit")


class Period(BaseModel):
    """One item: a department and the sample dates to report (both included)."""

    department: str = Field(alias="Afdeling", pattern=r"^[A-ZÆØÅ]{2,5}$")
    date_from: date = Field(alias="Fra")
    date_to: date = Field(alias="Til")

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.date_to < self.date_from:
            raise ValueError("'Til' is before 'Fra'")
        return self

    @property
    def dates(self) -> str:
        """The period in words: ``01-12-2026 to 06-12-2026``."""
        return f"{self.date_from:%d-%m-%Y} to {self.date_to:%d-%m-%Y}"


class WorklistRow(BaseModel):
    """A row of the worklist's Excel export."""

    registration_id: int = Field(alias="Registration id")
    sampled_at: datetime = Field(alias="Sampled at")
    cpr: str = Field(alias="CPR")
    department: str = Field(alias="Department")
    code: str = Field(alias="Test code")
    test: str = Field(alias="Test")
    value: float = Field(alias="Value")
    unit: str = Field(alias="Unit")


def show(
    ctx: Context, department: str, start: date, end: date
) -> tuple[int, list[WorklistRow], list[RowError]]:
    """Filter the worklist: the count it shows, and its export's good and bad rows."""
    session = browser.session(ctx)
    browser.fill_form(session, {"From": start, "To": end, "Department": department})
    browser.click(session, "Show")
    browser.expect_accepted(session, "the filter")
    summary = browser.expect_text(session, "results)", selector="#worklist-summary")
    if not (shown := re.findall(r"\((\d+) results\)", summary)):
        raise TargetSystemError(f"the worklist's summary {summary!r} has no count")
    with tempfile.TemporaryDirectory(dir=ctx.run_dir) as folder:  # CPR numbers
        export = browser.download(session, "Export to Excel", folder=Path(folder))
        return int(shown[0]), *read_items(export, model=WorklistRow)


def collect(ctx: Context, item: Period) -> dict[str, Any]:
    """Filter the worklist, download its export and keep its rows for the report."""
    session = browser.session(ctx)
    browser.goto(session, "/worklist")
    names = browser.expect_option(
        session, "#department", item.department, what="department", fix=FIX
    )
    shown, rows, _ = show(ctx, item.department, item.date_from, item.date_to)
    if len(rows) != shown or {r.department for r in rows} - {item.department}:
        raise ApplicationError(
            f"the export has {len(rows)} good rows of {item.department}, the page "
            f"says {shown}"
        )
    collected = ctx.shared.setdefault(COLLECTED, {})
    collected[ctx.robot.reference_of(item)] = (item, names[item.department], rows)
    per_code = sorted(Counter(row.code for row in rows).items())
    return {"rows": len(rows), "per_code": dict(per_code)}


def check_worklist(ctx: Context) -> None:
    """Preflight: today's results of the first department, and their export, read.

    Reading only: nothing is saved in the EPJ.
    """
    session = browser.session(ctx)
    if not (names := browser.options(session, "#department")):
        raise TargetSystemError("the worklist's Department list offers no department")
    try:
        today = datetime.now(ZoneInfo(ctx.settings.time_zone)).date()
        _, _, unread = show(ctx, next(iter(names)), today, today)
    except InputError as exc:
        raise TargetSystemError(f"the worklist's export has changed: {exc}") from exc
    if unread:
        raise TargetSystemError(
            f"the worklist's export has rows the robot cannot read: {unread[0].message}"
        )


def write_report(ctx: Context) -> None:
    """Finish: write what the run has collected, by department and dates."""
    collected = ctx.shared.get(COLLECTED, {})  # reference → (period, name, rows)
    if not collected:
        return
    workbook = reports.new_workbook()
    columns = [reports.Column(key) for key in SHOWN]
    order = sorted(collected.values(), key=lambda c: c[0].model_dump_json())
    for period, name, rows in order:  # by department and dates, as items ran or not
        shown = [_shown(row) for row in rows]
        sheet = reports.write_table(workbook, period.department, shown, columns=columns)
        if rows:
            title = f"{name}: results per test code"
            reports.add_counts_chart(sheet, column="Test code", title=title)
    facts = [(f"{p.department} {p.dates}", len(rows)) for p, _, rows in order]
    departments = sorted({period.department for period, _, _ in order})
    reports.write_summary(
        workbook,
        "Summary",
        [
            ("Report", "Lab results per department"),
            ("Period", ", ".join(sorted({p.dates for p, _, _ in order}))),
            ("Departments", ", ".join(departments)),
            ("Results in all", sum(count for _, count in facts)),
            *facts,
            ("Written", datetime.now(UTC)),  # shown in the hospital's time zone
        ],
    )
    reports.save(workbook, ctx.run_dir / "daily_report.xlsx")
    ctx.log.info("report_written", file="daily_report.xlsx", departments=departments)


def _shown(row: WorklistRow) -> dict[str, Any]:
    values = row.model_dump(by_alias=True)
    return {key: values[key] for key in SHOWN} | {"CPR": mask_cpr(row.cpr)}


robot = Robot(
    name="daily_report",
    item=Period,
    source=excel_source(INPUT, model=Period),
    reference=["department", "date_from", "date_to"],
    browser=browser.BrowserOptions(name="the worklist", mask=("#worklist",)),
    login="sandbox",
    process=collect,
    finish=write_report,
    preflight=[
        browser.expect_page(
            "the worklist",
            goto="/worklist",
            fields=["From", "To", "Department"],
            buttons=["Show"],
            links=["Export to Excel"],
            selectors=["#worklist-summary"],
        ),
        check_worklist,
    ],
    outputs=("rows",),
)
