"""Reports the lab results of each department for a period, from the EPJ's worklist.

Each input row ("Afdeling", "Fra", "Til": dd-mm-yyyy, or "i dag", "i går", "i dag-30")
is one item: filter the worklist, download its Excel export (one request however many
rows, values as numbers; the HTML table needs a page load per 50 rows and has decimal
commas) and check it holds as many rows as the page says. Teardown (at the end and
at every restart) writes ``daily_report.xlsx`` in the run folder: a summary, and per
department the results, CPR numbers masked, with a bar chart per test code.

Run it against the sandbox:  rpa run daily_report --input robots/inputs/daily_report.csv
Check that it can still log in and read the worklist:  rpa preflight daily_report
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from _epj import PREFLIGHT_TIMEOUT_S, expect_elements, log_in
from pydantic import BaseModel, Field, field_validator, model_validator

from robotlib import (
    ApplicationError,
    BusinessRuleError,
    Context,
    InputError,
    RetryPolicy,
    TargetSystemError,
)
from robotlib.cpr import mask_cpr
from robotlib.robot import Robot, Row, RowError, Stage
from robotlib.steps import browser, reports
from robotlib.steps.excel import read_rows

INPUT = Path(__file__).parent / "inputs" / "daily_report.csv"
REPORT = "daily_report.xlsx"
COLLECTED = "daily_report.collected"  # ctx.shared: item reference → Results
_TODAY = re.compile(r"i dag(?:\s*-\s*(\d+))?")
_SUMMARY = re.compile(r"\((\d+) results\)")  # "Page 1 of 3 (121 results)"


def day(text: str) -> date:
    """A date from dd-mm-yyyy, dd.mm.yyyy, yyyy-mm-dd, "i dag", "i går" or "i dag-7"."""
    spoken = " ".join(text.casefold().split()).replace("i går", "i dag-1")
    if relative := _TODAY.fullmatch(spoken):
        today = datetime.now(ZoneInfo("Europe/Copenhagen")).date()
        return today - timedelta(days=int(relative[1] or 0))
    for pattern in ("%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d"):
        with suppress(ValueError):
            return datetime.strptime(spoken, pattern).date()
    raise ValueError(f"{text!r} is not a date: 24-12-2026, 'i dag', 'i dag-7'")


class Period(BaseModel):
    """One item: a department and the sample dates to report (both included)."""

    department: str = Field(alias="Afdeling", pattern=r"^[A-ZÆØÅ]{2,5}$")
    date_from: date = Field(alias="Fra")
    date_to: date = Field(alias="Til")

    model_config = {"populate_by_name": True}

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return day(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _in_order(self) -> Period:
        if self.date_to < self.date_from:
            raise ValueError("'Til' is before 'Fra'")
        return self


class _Cells(BaseModel):
    """The input's cells as text, so that "i går" reaches Period's validator."""

    Afdeling: str
    Fra: str
    Til: str


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


@dataclass
class Results:
    """What one item collected for the report."""

    period: Period
    name: str
    rows: list[WorklistRow]


def read_periods(input_path: Path | None) -> Iterator[Row | RowError]:
    """Source: the input's rows, with relative dates resolved when they are loaded."""
    for row in read_rows(input_path or INPUT, model=_Cells):
        if isinstance(row, Row) and isinstance(row.values, BaseModel):
            row = Row(row.values.model_dump(), row.location)
        yield row


def open_worklist(ctx: Context) -> None:
    """Open a browser on the EPJ and log in as the robot user."""
    log_in(ctx, mask=("#worklist",))


def collect(ctx: Context, item: Period) -> dict[str, Any]:
    """Filter the worklist, download its export and keep its rows for the report."""
    session: browser.BrowserSession = ctx.state["browser"]
    browser.goto(session, "/worklist")
    names = _departments(session)
    if item.department not in names:
        raise BusinessRuleError(
            f"The worklist has no department {item.department} (it has "
            f"{', '.join(names)}): check the input"
        )
    browser.fill_form(
        session,
        {"From": item.date_from, "To": item.date_to, "Department": item.department},
    )
    browser.click(session, "Show")
    if (refused := session.page.locator(".field-error")).count():
        raise BusinessRuleError(f"The worklist refused: {refused.first.inner_text()}")
    summary = browser.expect_text(session, "results)", selector="#worklist-summary")
    shown = int(_SUMMARY.findall(summary)[0])
    with tempfile.TemporaryDirectory(dir=ctx.run_dir) as folder:  # CPR numbers
        export = browser.download(session, "Export to Excel", folder=Path(folder))
        rows = [
            row.values
            for row in read_rows(export, model=WorklistRow)
            if isinstance(row, Row) and isinstance(row.values, WorklistRow)
        ]
    if len(rows) != shown or {r.department for r in rows} - {item.department}:
        raise ApplicationError(
            f"the export has {len(rows)} good rows of {item.department}, the page "
            f"says {shown}"
        )
    collected = ctx.shared.setdefault(COLLECTED, {})
    collected[ctx.robot.reference_of(item)] = Results(
        item, names[item.department], rows
    )
    per_code = sorted(Counter(row.code for row in rows).items())
    return {"rows": len(rows), "per_code": dict(per_code)}


def check_worklist(ctx: Context) -> None:
    """Preflight: the worklist's filter, summary and Excel export are as collect uses.

    Shows today's results of the first department and downloads their export:
    reading only, nothing is saved in the EPJ.
    """
    session: browser.BrowserSession = ctx.state["browser"]
    browser.goto(session, "/worklist")
    expect_elements(
        session,
        "the worklist",
        fields=["From", "To", "Department"],
        buttons=["Show"],
        links=["Export to Excel"],
        selectors=["#worklist-summary"],
    )
    names = _departments(session)
    if not names:
        raise TargetSystemError("the worklist's Department list offers no department")
    today = day("i dag")
    department = next(iter(names))
    browser.fill_form(session, {"From": today, "To": today, "Department": department})
    browser.click(session, "Show")
    if (refused := session.page.locator(".field-error")).count():
        raise TargetSystemError(
            f"the worklist refused today's {department}: {refused.first.inner_text()}"
        )
    summary = browser.expect_text(
        session,
        "results)",
        selector="#worklist-summary",
        timeout_s=PREFLIGHT_TIMEOUT_S,
    )
    if not _SUMMARY.search(summary):
        raise TargetSystemError(f"the worklist's summary {summary!r} has no count")
    with tempfile.TemporaryDirectory(dir=ctx.run_dir) as folder:  # CPR numbers
        export = browser.download(session, "Export to Excel", folder=Path(folder))
        try:
            unread = [
                row.message
                for row in read_rows(export, model=WorklistRow)
                if isinstance(row, RowError)
            ]
        except InputError as exc:
            raise TargetSystemError(
                f"the worklist's export has changed: {exc}"
            ) from exc
    if unread:
        raise TargetSystemError(
            f"the worklist's export has rows the robot cannot read: {unread[0]}"
        )


def write_report(ctx: Context) -> None:
    """Teardown: write what the run has collected so far, over any earlier file."""
    collected: dict[str, Results] = ctx.shared.get(COLLECTED, {})
    if not collected:
        return
    workbook = reports.new_workbook()
    facts: list[tuple[str, Any]] = []
    order = sorted(collected.values(), key=lambda r: r.period.model_dump_json())
    for results in order:  # by department and dates, whatever order items ran in
        period = results.period
        sheet = reports.write_table(
            workbook,
            period.department,
            [_shown(row) for row in results.rows],
            columns=[reports.Column(key) for key in _SHOWN],
        )
        per_code = Counter(row.code for row in results.rows)
        if per_code:
            _chart(sheet, per_code, f"{results.name}: results per test code")
        facts.append((f"{period.department} {_dates(period)}", len(results.rows)))
    periods = ", ".join(sorted({_dates(r.period) for r in collected.values()}))
    departments = sorted({r.period.department for r in collected.values()})
    total = sum(len(results.rows) for results in collected.values())
    head: list[tuple[str, Any]] = [
        ("Report", "Lab results per department"),
        ("Period", periods),
    ]
    head += [("Departments", ", ".join(departments)), ("Results in all", total)]
    written = ("Written", datetime.now(ZoneInfo("Europe/Copenhagen")))
    reports.write_summary(workbook, "Summary", [*head, *facts, written])
    reports.save(workbook, ctx.run_dir / REPORT)
    ctx.log.info("report_written", file=REPORT, departments=departments)


_SHOWN = ("Registration id", "Sampled at", "CPR", "Test code", "Test", "Value", "Unit")


def _shown(row: WorklistRow) -> dict[str, Any]:
    values = row.model_dump(by_alias=True)
    return {key: values[key] for key in _SHOWN} | {"CPR": mask_cpr(row.cpr)}


def _chart(sheet: Any, per_code: Counter[str], title: str) -> None:
    """A bar chart over a table of results per test code, right of the rows.

    Not reports.add_chart: it charts only the sheet's write_table table.
    """
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    first = sheet.max_column + 2
    for offset, header in enumerate(("Per test code", "Results")):
        sheet.cell(row=1, column=first + offset, value=header).font = Font(bold=True)
    for number, (code, count) in enumerate(sorted(per_code.items()), start=2):
        sheet.cell(row=number, column=first, value=code)
        sheet.cell(row=number, column=first + 1, value=count)
    last = len(per_code) + 1
    chart = BarChart()
    chart.title, chart.y_axis.title, chart.legend = title, "Results", None
    values = Reference(sheet, min_col=first + 1, min_row=1, max_row=last)
    chart.add_data(values, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=first, min_row=2, max_row=last))
    sheet.add_chart(chart, sheet.cell(row=last + 2, column=first).coordinate)


def _departments(session: browser.BrowserSession) -> dict[str, str]:
    """The worklist's departments: code → name, in the list's order."""
    options = session.page.locator("#department option").evaluate_all(
        "options => options.map(o => [o.value, o.innerText.trim()])"
    )
    return {code: name for code, name in options if code}


def _dates(period: Period) -> str:
    return f"{period.date_from:%d-%m-%Y} to {period.date_to:%d-%m-%Y}"


robot = Robot(
    name="daily_report",
    description="Reports each department's lab results for a period in Excel.",
    item=Period,
    source=read_periods,
    reference=["department", "date_from", "date_to"],
    setup=open_worklist,
    process=[Stage("collect results", collect)],
    teardown=write_report,
    preflight=check_worklist,
    retry=RetryPolicy(attempts=3, backoff_s=(2, 10)),
    stop_after_system_errors=5,
    outputs=("rows",),
)
