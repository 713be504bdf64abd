"""A file's structure: cut CSV files, files still being written, sheets, hidden rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from robotlib.errors import InputError
from robotlib.robot import Row
from robotlib.steps import _excel_files
from robotlib.steps.excel import read_rows


class Lab(BaseModel):
    patient: str
    value: float


HEADER: list[object] = ["patient", "value"]


def read(path: Path, **options: object) -> list[tuple[str, dict[str, object]]]:
    found = []
    for row in read_rows(path, model=Lab, **options):  # type: ignore[arg-type]
        assert isinstance(row, Row), row
        values = row.values
        found.append(
            (
                row.location,
                values.model_dump() if isinstance(values, BaseModel) else dict(values),
            )
        )
    return found


def workbook(
    path: Path, sheets: dict[str, Sequence[Sequence[object]]]
) -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for values in rows:
            sheet.append(values)
    return book


DATA: list[list[object]] = [HEADER, ["A", 1.5], ["B", 2.5], ["C", 3.5], ["D", 4.5]]


# CSV completeness --------------------------------------------------------------------


def test_a_csv_cut_in_its_last_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lab.csv"
    path.write_bytes(b"patient;value\r\nA;48,25\r\nB;4")

    with pytest.raises(InputError) as caught:
        read(path)

    assert str(caught.value) == (
        "file lab.csv, row 3: the last line, line 3, has no line end while the "
        "others have: the file was probably cut while being written (copied before "
        "it was complete); wait for the complete file or ask for it again"
    )


@pytest.mark.parametrize(
    "content",
    [b"patient;value\r\nA;48,25\r\n", b"patient;value\nA;48,25\n", b"patient;value"],
)
def test_csv_files_with_line_ends_or_one_line_are_read(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "lab.csv"
    path.write_bytes(content)

    rows = read(path)

    expected = {"patient": "A", "value": 48.25}
    assert rows == ([("lab.csv, row 2", expected)] if b"A" in content else [])


# Stable files ------------------------------------------------------------------------


def appending(path: Path, stop: threading.Event, times: int) -> threading.Thread:
    """A thread adding a row to a CSV file every 10 ms, ``times`` times or until
    ``stop``."""

    def write() -> None:
        for number in range(times):
            if stop.is_set():
                return
            with path.open("a", newline="") as handle:
                handle.write(f"P{number};{number},5\r\n")
            time.sleep(0.01)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_file_is_read_once_it_stops_changing(tmp_path: Path) -> None:
    path = tmp_path / "lab.csv"
    path.write_bytes(b"patient;value\r\n")
    stop = threading.Event()
    thread = appending(path, stop, times=5)

    with capture_logs() as logs:
        rows = read(path, stable_for_s=0.2)
    thread.join()

    assert [values["patient"] for _, values in rows] == ["P0", "P1", "P2", "P3", "P4"]
    waits = [e for e in logs if e["event"] == "input_waiting_stable"]
    assert waits == [
        {
            "event": "input_waiting_stable",
            "file": "lab.csv",
            "seconds": 0.2,
            "log_level": "info",
        }
    ]


def test_a_file_that_keeps_changing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_excel_files, "MIN_PATIENCE_S", 0.3)
    path = tmp_path / "lab.csv"
    path.write_bytes(b"patient;value\r\n")
    stop = threading.Event()
    thread = appending(path, stop, times=1_000_000)
    try:
        with pytest.raises(InputError) as caught:
            read(path, stable_for_s=0.05)
    finally:
        stop.set()
        thread.join()

    assert str(caught.value) == (
        "file lab.csv: the file is still being written: it changed within the last "
        "0.05 seconds for 0.5 seconds; wait until it is complete (copied or saved) "
        "and run again"
    )


# Sheets ------------------------------------------------------------------------------


def test_a_hidden_first_sheet_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "lab.xlsx"
    book = workbook(path, {"Gammel": [HEADER, ["OLD", 9.0]], "Ark1": DATA[:2]})
    book["Gammel"].sheet_state = "hidden"
    book.save(path)

    assert read(path) == [
        ("lab.xlsx, sheet 'Ark1', row 2", {"patient": "A", "value": 1.5})
    ]
    assert read(path, sheet="Gammel") == [
        ("lab.xlsx, sheet 'Gammel', row 2", {"patient": "OLD", "value": 9.0})
    ]


def test_the_visible_sheet_with_the_header_is_read(tmp_path: Path) -> None:
    path = tmp_path / "lab.xlsx"
    book = workbook(path, {"Forside": [["Rapport"], ["i dag"]], "Data": DATA[:2]})
    book.save(path)

    assert read(path) == [
        ("lab.xlsx, sheet 'Data', row 2", {"patient": "A", "value": 1.5})
    ]


def test_two_sheets_with_the_header_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "lab.xlsx"
    workbook(path, {"Ark1": DATA[:2], "Ark2": DATA[:3]}).save(path)

    with pytest.raises(InputError) as caught:
        read(path)

    assert str(caught.value) == (
        "file lab.xlsx: the sheets 'Ark1' and 'Ark2' both have the expected columns, "
        "so which one to read cannot be told; delete or rename the other sheet, or "
        "the robot may name the sheet to read (sheet=)"
    )


def test_without_a_header_the_first_visible_sheet_is_named(tmp_path: Path) -> None:
    path = tmp_path / "lab.xlsx"
    book = workbook(path, {"Skjult": DATA, "Ark1": [["x"]], "Ark2": [["y"]]})
    book["Skjult"].sheet_state = "hidden"
    book.save(path)

    with pytest.raises(InputError) as caught:
        read(path)

    assert caught.value.sheet == "Ark1"


# Hidden rows -------------------------------------------------------------------------


def hidden_rows_workbook(path: Path, *, autofilter: bool = False) -> Path:
    book = workbook(path, {"Ark1": [*DATA, [], ["E", 5.5]]})
    sheet = book["Ark1"]
    if autofilter:
        sheet.auto_filter.ref = "A1:B7"
    for number in (3, 5, 6):  # row 6 is empty: it does not count
        sheet.row_dimensions[number].hidden = True
    book.save(path)
    return path


@pytest.mark.parametrize("autofilter", [False, True])
def test_hidden_rows_are_refused(tmp_path: Path, autofilter: bool) -> None:
    path = hidden_rows_workbook(tmp_path / "lab.xlsx", autofilter=autofilter)

    with pytest.raises(InputError) as caught:
        read(path)

    assert str(caught.value) == (
        "file lab.xlsx, sheet 'Ark1': rows 3 and 5 are hidden (filtered away or "
        "hidden in Excel) and would not be seen by whoever checks the sheet; clear "
        "the filter or show the rows and save the file, or the robot may declare "
        "hidden_rows='skip' or hidden_rows='include'"
    )


def test_hidden_rows_can_be_skipped(tmp_path: Path) -> None:
    path = hidden_rows_workbook(tmp_path / "lab.xlsx")

    with capture_logs() as logs:
        rows = read(path, hidden_rows="skip")

    assert [location for location, _ in rows] == [
        "lab.xlsx, sheet 'Ark1', row 2",
        "lab.xlsx, sheet 'Ark1', row 4",
        "lab.xlsx, sheet 'Ark1', row 7",
    ]
    skipped = [e for e in logs if e["event"] == "input_hidden_rows_skipped"]
    assert skipped == [
        {
            "event": "input_hidden_rows_skipped",
            "file": "lab.xlsx",
            "sheet": "Ark1",
            "rows": [3, 5],
            "log_level": "info",
        }
    ]


def test_hidden_rows_can_be_included(tmp_path: Path) -> None:
    path = hidden_rows_workbook(tmp_path / "lab.xlsx")

    rows = read(path, hidden_rows="include")

    assert [values["patient"] for _, values in rows] == ["A", "B", "C", "D", "E"]


def test_hidden_rows_are_refused_on_the_openpyxl_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robotlib.steps import _excel_sheets

    monkeypatch.setattr(_excel_sheets, "_calamine_sheet", lambda *_: None)
    path = hidden_rows_workbook(tmp_path / "lab.xlsx")

    with pytest.raises(InputError, match="rows 3 and 5 are hidden"):
        read(path)
    assert len(read(path, hidden_rows="skip")) == 3


# Excel's lock files ------------------------------------------------------------------


def test_an_excel_lock_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "~$lab.xlsx"
    path.write_bytes(b"\x05someone" + b"\x00" * 100)

    with pytest.raises(InputError) as caught:
        read(path)

    assert str(caught.value) == (
        "file ~$lab.xlsx: this is Excel's lock file, not a workbook: it exists while "
        "someone has lab.xlsx open; read lab.xlsx instead"
    )


# Written by LibreOffice --------------------------------------------------------------

#: Workbooks LibreOffice Calc wrote from a flat-ODS file, committed;
#: tests/data/libreoffice/make_books.py writes them again (it needs soffice).
LIBREOFFICE = Path(__file__).resolve().parents[1] / "data" / "libreoffice"


@pytest.mark.parametrize("suffix", [".xlsx", ".ods"])
def test_libreoffice_hidden_sheets_and_rows(suffix: str) -> None:
    path = LIBREOFFICE / f"lab{suffix}"
    # LibreOffice keeps the flat file's hidden table hidden in ods only: its xlsx
    # says state="visible", so the sheet is named there.
    named = {} if suffix == ".ods" else {"sheet": "Ark1"}

    with pytest.raises(InputError) as caught:
        read(path, **named)
    skipped = read(path, hidden_rows="skip", **named)

    assert caught.value.sheet == "Ark1"
    assert "rows 3, 5, 6 and 7 are hidden" in str(caught.value)
    assert [values["patient"] for _, values in skipped] == ["A", "C", "F"]
    assert [v["patient"] for _, v in read(path, sheet="Gammel")] == ["OLD"]


def test_a_schedule_glob_skips_excel_lock_files(tmp_path: Path) -> None:
    from robotlib.schedule import Job
    from robotlib.scheduler._firer import input_files

    (tmp_path / "in").mkdir()
    for name in ("lab.xlsx", "~$lab.xlsx", "lab2.xlsx"):
        (tmp_path / "in" / name).write_bytes(b"x")
    job = Job(
        name="daily",
        file=tmp_path / "s.toml",
        robot="lab",
        cron="0 2 * * *",
        input="in/*.xlsx",
    )

    with capture_logs() as logs:
        inputs = input_files(tmp_path, job)

    assert inputs == [tmp_path / "in" / "lab.xlsx", tmp_path / "in" / "lab2.xlsx"]
    assert [e for e in logs if e["event"] == "input_lock_file_skipped"] == [
        {
            "event": "input_lock_file_skipped",
            "job": "daily",
            "file": "~$lab.xlsx",
            "log_level": "info",
        }
    ]


# Number cells shown with leading zeros ---------------------------------------------


def test_a_number_cell_padded_by_its_format_reads_as_the_digits_shown(
    tmp_path: Path,
) -> None:
    class Coded(BaseModel):
        code: str
        count: int

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "count"])
    sheet.append([909689473, 7])
    sheet.append([12345, 8])
    sheet["A2"].number_format = "0000000000"
    sheet["B2"].number_format = "000"
    path = tmp_path / "padded.xlsx"
    book.save(path)
    rows = [r.values for r in read_rows(path, model=Coded) if isinstance(r, Row)]
    assert rows == [Coded(code="0909689473", count=7), Coded(code="12345", count=8)]
