"""Excel reports: formatted tables, charts, summaries, atomic saves and run reports."""

from __future__ import annotations

import os
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.chart import BarChart, LineChart
from pydantic import BaseModel

from robotlib.engine.report import write_run_report
from robotlib.logs import Redactor
from robotlib.queue.models import ItemState, Run, RunStatus
from robotlib.steps.reports import (
    Column,
    Highlight,
    add_chart,
    new_workbook,
    save,
    write_summary,
    write_table,
)
from robotlib.testing import make_work_item

ROWS = [
    {"Patient": "A", "Taken": date(2026, 12, 24), "Value": 7.4, "Count": 3},
    {"Patient": "B", "Taken": date(2026, 12, 25), "Value": 9.1, "Count": 5},
]
START = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)  # 02:00 in Copenhagen (summer time)


def _saved(workbook: Any, tmp_path: Path) -> Any:
    """Save a workbook and open it again, as a user's Excel would."""
    return openpyxl.load_workbook(save(workbook, tmp_path / "out.xlsx"))


def _rules(sheet: Any) -> dict[str, list[str]]:
    """Conditional formatting of a sheet: range → the rules' formulas."""
    return {
        str(entry.sqref): [formula for rule in entry.rules for formula in rule.formula]
        for entry in sheet.conditional_formatting
    }


def _title(chart: Any) -> str:
    """The text of a chart's title, read back from the file."""
    return "".join(run.t for p in chart.title.tx.rich.p for run in p.r or [])


def _column(sheet: Any, header: str) -> list[Any]:
    """The data values under a header."""
    headers = [cell.value for cell in sheet[1]]
    index = headers.index(header) + 1
    return [sheet.cell(row=r, column=index).value for r in range(2, sheet.max_row + 1)]


# write_table ----------------------------------------------------------------------


def test_header_is_bold_filled_frozen_and_filtered(tmp_path: Path) -> None:
    """The header row is bold and filled, panes freeze below it, a filter spans all."""
    workbook = new_workbook()
    write_table(workbook, "Lab", ROWS)
    sheet = _saved(workbook, tmp_path)["Lab"]
    assert ["Patient", "Taken", "Value", "Count"] == [c.value for c in sheet[1]]
    assert [True] * 4 == [cell.font.b for cell in sheet[1]]
    assert ["solid"] * 4 == [cell.fill.fill_type for cell in sheet[1]]
    assert "A2" == sheet.freeze_panes
    assert "A1:D3" == sheet.auto_filter.ref


def test_number_formats_follow_the_column_type(tmp_path: Path) -> None:
    """Dates, datetimes, floats and ints get Danish-style formats; a Column's wins."""
    workbook = new_workbook()
    rows = [{**row, "At": datetime(2026, 12, 24, 8, 30)} for row in ROWS]
    columns = [
        Column("Taken", "Dato"),
        Column("At"),
        Column("Value", "Værdi"),
        Column("Count"),
        Column("Value", "Precise", number_format="0.000"),
    ]
    write_table(workbook, "Lab", rows, columns=columns)
    sheet = _saved(workbook, tmp_path)["Lab"]
    expected = ["dd-mm-yyyy", "dd-mm-yyyy hh:mm", "0.00", "0", "0.000"]
    assert expected == [cell.number_format for cell in sheet[2]]
    assert date(2026, 12, 24) == sheet["A2"].value.date()
    assert ["Dato", "At", "Værdi", "Count", "Precise"] == [c.value for c in sheet[1]]


def test_column_widths_fit_content_and_are_capped(tmp_path: Path) -> None:
    """Widths fit the longest text, stop at 60, and a Column's width is kept."""
    workbook = new_workbook()
    rows = [{"Short": "ab", "Long": "x" * 200, "Fixed": "y", "Name": "Hansen Jensen"}]
    columns = [Column("Short"), Column("Long"), Column("Fixed", width=25)]
    write_table(workbook, "Widths", rows, columns=[*columns, Column("Name")])
    sheet = _saved(workbook, tmp_path)["Widths"]
    widths = [sheet.column_dimensions[letter].width for letter in "ABCD"]
    assert [9, 60, 25, len("Hansen Jensen") + 2] == widths


def test_pydantic_rows_and_missing_keys(tmp_path: Path) -> None:
    """Models are written by field; a key missing from a row leaves its cell empty."""

    class Result(BaseModel):
        """One lab result."""

        cpr: str
        value: float

    workbook = new_workbook()
    write_table(workbook, "Models", [Result(cpr="A", value=1.5)])
    write_table(workbook, "Dicts", [{"a": 1}, {"b": 2}])
    opened = _saved(workbook, tmp_path)
    assert [["cpr", "value"], ["A", 1.5]] == [
        [c.value for c in row] for row in opened["Models"].iter_rows()
    ]
    assert [["a", "b"], [1, None], [None, 2]] == [
        [c.value for c in row] for row in opened["Dicts"].iter_rows()
    ]


def test_aware_datetimes_become_copenhagen_wall_clock(tmp_path: Path) -> None:
    """A UTC datetime is written as naive local time: Excel cannot hold time zones."""
    workbook = new_workbook()
    write_table(workbook, "Times", [{"At": datetime(2026, 1, 5, 23, 30, tzinfo=UTC)}])
    sheet = _saved(workbook, tmp_path)["Times"]
    assert datetime(2026, 1, 6, 0, 30) == sheet["A2"].value


def test_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    """Input data starting with '=' is stored as text, never as a formula."""
    workbook = new_workbook()
    write_table(workbook, "Data", [{"Note": '=HYPERLINK("http://x")', "Bad": "a\x01b"}])
    sheet = _saved(workbook, tmp_path)["Data"]
    assert ("s", '=HYPERLINK("http://x")') == (sheet["A2"].data_type, sheet["A2"].value)
    assert "ab" == sheet["B2"].value


def test_highlight_rows_by_value_and_cells_by_threshold(tmp_path: Path) -> None:
    """Highlights become formula rules over the row or the cell range they name."""
    workbook = new_workbook()
    highlight = [
        Highlight(column="Patient", equals='B "2"', fill="FFF2CC", whole_row=True),
        Highlight(column="Value", greater_than=8.0, fill="FFC7CE"),
        Highlight(column="Count", less_than=4),
    ]
    write_table(workbook, "Lab", ROWS, highlight=highlight)
    sheet = _saved(workbook, tmp_path)["Lab"]
    expected = {
        "A2:D3": ['$A2="B ""2"""'],
        "C2:C3": ["AND(ISNUMBER($C2),$C2>8.0)"],
        "D2:D3": ["AND(ISNUMBER($D2),$D2<4)"],
    }
    assert expected == _rules(sheet)


def test_highlight_of_an_unknown_column_names_the_columns() -> None:
    """A highlight on a missing column fails, listing the columns, before writing."""
    workbook = new_workbook()
    with pytest.raises(ValueError, match=r"'Outcome'.*Patient, Taken, Value, Count"):
        write_table(workbook, "Lab", ROWS, highlight=[Highlight("Outcome", 1)])
    assert ["Sheet"] == workbook.sheetnames  # no half-written sheet


@pytest.mark.parametrize(
    "options",
    [{}, {"equals": 1, "greater_than": 2}, {"equals": 1, "fill": "yellow"}],
    ids=["no-condition", "two-conditions", "bad-fill"],
)
def test_invalid_highlight_is_rejected(options: dict[str, Any]) -> None:
    """A highlight needs exactly one condition and a hex colour."""
    with pytest.raises(ValueError):
        Highlight(column="Value", **options)


def test_sheet_titles_are_sanitised_and_unique(tmp_path: Path) -> None:
    """Titles lose []:*?/\\, keep to 31 characters and get a number when taken."""
    workbook = new_workbook()
    for title in ["Lab: 24/12 [EPJ]", "lab: 24/12 [epj]", "x" * 40, "x" * 40, "'?'"]:
        write_table(workbook, title, ROWS)
    expected = ["Lab_ 24_12 _EPJ_", "lab_ 24_12 _epj_ (2)", "x" * 31, "x" * 27 + " (2)"]
    assert [*expected, "_"] == _saved(workbook, tmp_path).sheetnames


def test_placeholder_sheet_goes_when_the_first_sheet_is_added() -> None:
    """openpyxl's empty default sheet is removed once a real sheet exists."""
    workbook = new_workbook()
    write_table(workbook, "Sheet", ROWS)
    write_table(workbook, "Two", ROWS)
    assert ["Sheet", "Two"] == workbook.sheetnames


# add_chart ------------------------------------------------------------------------


def test_bar_and_line_charts_over_the_table(tmp_path: Path) -> None:
    """Charts take their series from named columns and sit right of the table."""
    workbook = new_workbook()
    sheet = write_table(workbook, "Lab", ROWS)
    add_chart(
        sheet,
        kind="bar",
        title="Hb",
        categories_column="Patient",
        value_columns=["Value", "Count"],
    )
    add_chart(
        sheet,
        kind="line",
        title="Trend",
        categories_column="Taken",
        value_columns=["Value"],
        anchor="B10",
    )
    charts = _saved(workbook, tmp_path)["Lab"]._charts
    assert [BarChart, LineChart] == [type(chart) for chart in charts]
    assert ["Hb", "Trend"] == [_title(chart) for chart in charts]
    assert [2, 1] == [len(chart.series) for chart in charts]
    anchors = [(c.anchor._from.col, c.anchor._from.row) for c in charts]
    assert [(5, 1), (1, 9)] == anchors  # F2 (zero-based), B10
    assert "'Lab'!$C$2:$C$3" == charts[0].series[0].val.numRef.f


def test_chart_of_an_unknown_column_names_the_columns() -> None:
    """A chart over a header the table lacks is an error listing its headers."""
    sheet = write_table(new_workbook(), "Lab", ROWS)
    with pytest.raises(ValueError, match=r"'Volume'.*Patient, Taken, Value, Count"):
        add_chart(
            sheet,
            kind="bar",
            title="T",
            categories_column="Patient",
            value_columns=["Volume"],
        )


# write_summary and save -----------------------------------------------------------


def test_summary_is_first_with_bold_keys(tmp_path: Path) -> None:
    """The summary is the first, active sheet, with bold keys and formatted values."""
    workbook = new_workbook()
    write_table(workbook, "Data", ROWS)
    write_summary(workbook, "Summary", [("Robot", "lab"), ("Mean", 2.5)])
    opened = _saved(workbook, tmp_path)
    sheet = opened["Summary"]
    assert ["Summary", "Data"] == opened.sheetnames
    assert "Summary" == opened.active.title
    assert [("Robot", "lab"), ("Mean", 2.5)] == list(sheet.values)
    assert [True, True] == [sheet["A1"].font.b, sheet["A2"].font.b]
    assert "0.00" == sheet["B2"].number_format
    assert [True, False] == [s.sheet_view.tabSelected for s in opened.worksheets]


def test_save_leaves_no_temporary_file_and_replaces(tmp_path: Path) -> None:
    """Saving twice leaves exactly the one file, holding the latest workbook."""
    for title in ["First", "Second"]:
        workbook = new_workbook()
        write_table(workbook, title, ROWS)
        save(workbook, tmp_path / "reports" / "out.xlsx")
    assert ["out.xlsx"] == os.listdir(tmp_path / "reports")
    reopened = openpyxl.load_workbook(tmp_path / "reports" / "out.xlsx")
    assert ["Second"] == reopened.sheetnames


def test_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    """A workbook that fails to serialise leaves neither a temporary nor a target."""

    class Broken:
        """A workbook whose save fails halfway."""

        def save(self, stream: Any) -> None:
            stream.write(b"PK partial")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save(Broken(), tmp_path / "out.xlsx")
    assert [] == os.listdir(tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX-only")
def test_saved_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """The saved workbook has mode 0o600 on POSIX."""
    workbook = new_workbook()
    write_table(workbook, "Data", ROWS)
    path = save(workbook, tmp_path / "out.xlsx")
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)


# write_run_report -----------------------------------------------------------------


def _run_report(tmp_path: Path, *, masked: bool) -> Any:
    """Write a run report of three items and open it again."""
    run = Run(
        id="20260701T000000Z-abc123",
        robot="lab_results",
        started_at=START,
        finished_at=START + timedelta(minutes=12, seconds=5),
        status=RunStatus.COMPLETED,
        counts={"done": 1, "business_exception": 1, "failed": 1, "retried": 2},
        host="vm-rpa-01",
        note="",
    )
    started = START + timedelta(minutes=1)
    items = [
        make_work_item(
            id=1,
            reference="240512-4123|NPU02319",
            state=ItemState.DONE,
            attempts=1,
            finished_stages=("register",),
            output={"lab_id": "L-7"},
            started_at=started,
            finished_at=started + timedelta(seconds=2.5),
        ),
        make_work_item(
            id=2,
            reference="010190-1234|NPU02319",
            state=ItemState.BUSINESS_EXCEPTION,
            attempts=1,
            error_type="BusinessRuleError",
            error_message="No patient with CPR 010190-1234 in EPJ",
            started_at=started,
            finished_at=started + timedelta(seconds=1),
        ),
        make_work_item(
            id=3,
            reference="311299-9876|NPU02319",
            state=ItemState.FAILED,
            attempts=3,
            error_type="TimeoutError",
            error_message="EPJ timed out",
            artifacts=("lab_results/run/item-3-attempt-3-epj.png",),
            started_at=started,
            finished_at=started + timedelta(seconds=30),
        ),
    ]
    mask = Redactor(cpr_mode="mask", key=b"k").redact if masked else None
    path = tmp_path / "run" / "report.xlsx"
    written = write_run_report(
        path, run=run, items=items, outputs=["lab_id"], mask=mask
    )
    assert path == written
    return openpyxl.load_workbook(path)


def test_run_report_sheets_and_summary(tmp_path: Path) -> None:
    """The report has Summary first, counts by outcome and local times."""
    report = _run_report(tmp_path, masked=True)
    assert ["Summary", "Items", "Exceptions", "Timings"] == report.sheetnames
    facts = dict(report["Summary"].values)
    assert datetime(2026, 7, 1, 2, 0) == facts["Started"]
    assert datetime(2026, 7, 1, 2, 12, 5) == facts["Finished"]
    assert "0:12:05" == facts["Duration"]
    expected = {"Items": 3, "Done": 1, "Business exception": 1, "Failed": 1}
    assert expected == {key: facts[key] for key in expected}
    assert ("completed", "vm-rpa-01", 2) == (
        facts["Status"],
        facts["Host"],
        facts["Retries"],
    )


def test_run_report_chart_of_counts_on_the_summary(tmp_path: Path) -> None:
    """The Summary carries one bar chart of the counts by outcome."""
    charts = _run_report(tmp_path, masked=True)["Summary"]._charts
    assert [BarChart] == [type(chart) for chart in charts]
    assert "Items by outcome" == _title(charts[0])
    assert "'Summary'!$B$10:$B$12" == charts[0].series[0].val.numRef.f


def test_run_report_items_are_masked_highlighted_and_local(tmp_path: Path) -> None:
    """Items show masked references, outputs, local times and highlighted exceptions."""
    items = _run_report(tmp_path, masked=True)["Items"]
    headers = ["ID", "Reference", "State", "Attempts", "Finished stages", "lab_id"]
    headers += ["Error type", "Error message", "Started", "Finished", "Duration (s)"]
    assert headers == [cell.value for cell in items[1]]
    assert ["240512-****|NPU02319", "010190-****|NPU02319", "311299-****|NPU02319"] == (
        _column(items, "Reference")
    )
    assert "No patient with CPR 010190-**** in EPJ" == items["H3"].value
    assert ["L-7", None, None] == _column(items, "lab_id")
    assert [datetime(2026, 7, 1, 2, 1)] * 3 == _column(items, "Started")
    assert [2.5, 1.0, 30.0] == _column(items, "Duration (s)")
    assert "dd-mm-yyyy hh:mm" == items["I2"].number_format
    assert {"A2:K4": ['$C2="business_exception"', '$C2="failed"']} == _rules(items)


def test_run_report_exceptions_list_only_exception_items(tmp_path: Path) -> None:
    """The Exceptions sheet lists business exceptions and failures with artifacts."""
    sheet = _run_report(tmp_path, masked=True)["Exceptions"]
    assert [2, 3] == _column(sheet, "ID")
    assert ["010190-****|NPU02319", "311299-****|NPU02319"] == (
        _column(sheet, "Reference")
    )
    assert ["No patient with CPR 010190-**** in EPJ", "EPJ timed out"] == (
        _column(sheet, "Reason")
    )
    assert [None, "lab_results/run/item-3-attempt-3-epj.png"] == (
        _column(sheet, "Artifacts")
    )


def test_run_report_timings_slowest_first(tmp_path: Path) -> None:
    """The Timings sheet lists each item's duration, slowest first."""
    sheet = _run_report(tmp_path, masked=True)["Timings"]
    assert [30.0, 2.5, 1.0] == _column(sheet, "Duration (s)")
    assert ["failed", "done", "business_exception"] == _column(sheet, "State")


def test_run_report_without_mask_writes_text_as_given(tmp_path: Path) -> None:
    """With mask=None references and messages are written as they are."""
    report = _run_report(tmp_path, masked=False)
    assert "240512-4123|NPU02319" == report["Items"]["B2"].value
    assert "No patient with CPR 010190-1234 in EPJ" == report["Exceptions"]["E2"].value


def test_run_report_of_an_empty_run(tmp_path: Path) -> None:
    """A run without items still gets every sheet, with headers and zero counts."""
    run = Run(
        id="r",
        robot="lab_results",
        started_at=START,
        finished_at=None,
        status=RunStatus.STOPPED,
        note="stopped: EPJ down for 240512-4123",
    )
    mask = Redactor(cpr_mode="mask", key=b"k").redact
    report = openpyxl.load_workbook(
        write_run_report(tmp_path / "report.xlsx", run=run, items=[], mask=mask)
    )
    facts = dict(report["Summary"].values)
    assert ("stopped: EPJ down for 240512-****", None, None) == (
        facts["Note"],
        facts["Finished"],
        facts["Duration"],
    )
    assert (0, 0, 0, 0) == (
        facts["Items"],
        facts["Done"],
        facts["Business exception"],
        facts["Failed"],
    )
    assert "A1:H1" == report["Exceptions"].auto_filter.ref
    assert ["ID", "Reference", "State"] == [c.value for c in report["Items"][1]][:3]
