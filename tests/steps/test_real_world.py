"""The real-world corpus of issue 15: files LibreOffice and Python's csv wrote.

Each test reads one file of ``tests/data/real_world/`` (or a pair written the same
way) and checks the outcome its README's table gives: the exact values of every
good row, and for every bad row where it is, which column and what the operator
is told; for a refused file the error's file, sheet and row. No error text may
hold a full CPR number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field
from structlog.testing import capture_logs

from robotlib import Cpr
from robotlib.errors import InputError
from robotlib.robot import Row, RowError
from robotlib.steps.excel import read_rows

DATA = Path(__file__).resolve().parents[1] / "data" / "real_world"

# The corpus's fictitious patients (README).
A, B, C, D, E, Z = (
    "170551-4514",
    "220209-4002",
    "211217-9215",
    "090505-9525",
    "290191-0570",
    "090968-9473",
)

# Ten digits in a row, with or without a separator between date and serial.
FULL_CPR = re.compile(r"\d{6}\s*[-\u2013]?\s*\d{4}")


class LabResult(BaseModel):
    """The fields of the lab_results robot's ``LabResult`` (robots/lab_results.py)."""

    cpr: Cpr = Field(alias="CPR-nummer")
    code: str = Field(alias="Analysekode", pattern=r"^NPU\d{5}$")
    value: float = Field(alias="Værdi")
    unit: str = Field(alias="Enhed")
    sampled_at: datetime = Field(alias="Prøvetidspunkt")
    comment: str = Field(default="", alias="Kommentar")

    model_config = {"populate_by_name": True}


def lab(
    cpr: str,
    code: str,
    value: float,
    unit: str,
    sampled_at: datetime,
    comment: str = "",
) -> dict[str, Any]:
    """The values a good row must load as."""
    return {
        "cpr": cpr,
        "code": code,
        "value": value,
        "unit": unit,
        "sampled_at": sampled_at,
        "comment": comment,
    }


def nov(day: int, hour: int, minute: int) -> datetime:
    """A naive wall-clock time in November 2026."""
    return datetime(2026, 11, day, hour, minute)


G2 = lab(A, "NPU02319", 8.4, "mmol/L", nov(20, 8, 0))
G3 = lab(B, "NPU03429", 141.0, "mmol/L", nov(20, 8, 15), "Fastende")
G4 = lab(C, "NPU19748", 12.5, "mg/L", nov(20, 9, 30))


@dataclass(frozen=True)
class Bad:
    """An expected row error: its column and the message's text after the column."""

    column: str
    text: str


Expected = dict[str, Any] | Bad


def where(path: Path, row: int) -> str:
    """The location the reader gives a row of ``path`` (a CSV has no sheet)."""
    if path.suffix == ".csv":
        return f"{path.name}, row {row}"
    return f"{path.name}, sheet 'Resultater', row {row}"


def assert_no_cpr(text: str, *forbidden: str) -> None:
    """Assert ``text`` holds no full CPR number, nor any of ``forbidden``."""
    assert not FULL_CPR.search(text), text
    for value in forbidden:
        assert value not in text, text


def assert_reads(
    path: Path,
    expected: Sequence[tuple[str, Expected]],
    *,
    forbidden: Sequence[str] = (),
    **options: Any,
) -> None:
    """Read ``path`` and assert each row's location and outcome, in order."""
    results = list(read_rows(path, model=LabResult, **options))
    assert [result.location for result in results] == [loc for loc, _ in expected]
    for result, (location, outcome) in zip(results, expected, strict=True):
        if isinstance(outcome, Bad):
            assert isinstance(result, RowError), (location, result)
            assert result.message.startswith(f"column '{outcome.column}'"), result
            assert result.message.endswith(f": {outcome.text}"), result
            assert_no_cpr(result.message, *forbidden)
        else:
            assert isinstance(result, Row), (location, result)
            assert isinstance(result.values, LabResult)
            assert result.values.model_dump() == outcome, location
            assert result.values.sampled_at.tzinfo is None, location


def refused(path: Path, **options: Any) -> InputError:
    """Read ``path``, assert it is refused before any row loads, return the error."""
    loaded: list[Row | RowError] = []
    with pytest.raises(InputError) as caught:
        loaded.extend(read_rows(path, model=LabResult, **options))
    assert loaded == []
    assert_no_cpr(str(caught.value))
    return caught.value


# -- controls and encodings -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("lo_good.xlsx", {}),
        ("lo_good.ods", {}),
        ("glob/lab.xlsx", {}),
        # the hidden first sheet 'Gammel kopi' is passed over, never read
        ("lo_hidden_first_sheet.xlsx", {}),
        ("lo_hidden_first_sheet.ods", {}),
        ("lo_two_visible_sheets.xlsx", {"sheet": "Resultater"}),
        ("lo_hidden_rows.xlsx", {"hidden_rows": "include"}),
        ("lo_hidden_rows.ods", {"hidden_rows": "include"}),
    ],
)
def test_good_workbook_loads_g2_g3_g4(name: str, options: dict[str, Any]) -> None:
    path = DATA / name
    assert_reads(
        path,
        [(where(path, 2), G2), (where(path, 3), G3), (where(path, 4), G4)],
        **options,
    )


def test_cp1252_csv_loads_danish_letters() -> None:
    path = DATA / "csv_good_cp1252.csv"
    assert_reads(
        path,
        [
            (
                where(path, 2),
                lab(A, "NPU02319", 8.4, "mmol/L", nov(20, 8, 0), "Prøve ændret"),
            ),
            (where(path, 3), G3),
            (where(path, 4), G4),
        ],
    )


def test_utf8_bom_csv_loads_without_the_bom_in_the_first_header() -> None:
    path = DATA / "csv_good_utf8_bom.csv"
    assert_reads(
        path,
        [
            (
                where(path, 2),
                lab(A, "NPU02319", 8.4, "mmol/L", nov(20, 8, 0), "Prøve ændret"),
            ),
            (
                where(path, 3),
                lab(D, "NPU04998", 1.25, "mmol/L", nov(20, 8, 15), "µ-prøve"),
            ),
        ],
    )


# -- 1 numbers ----------------------------------------------------------------------

AMBIGUOUS_1050 = Bad(
    "Værdi",
    "value '1.050' reads as 1050 in Danish notation (da) and as 1.05 with a decimal "
    "point; write 1050 or 1,05, or declare the column's locale",
)
AMBIGUOUS_1234 = Bad(
    "Værdi",
    "value '1.234' reads as 1234 in Danish notation (da) and as 1.234 with a decimal "
    "point; write 1234 or 1,234, or declare the column's locale",
)
ENGLISH_1234_5 = Bad(
    "Værdi",
    "value '1,234.5' is English notation for 1234.5, not Danish notation (da); write "
    "1234,5, or declare the column's locale",
)


def test_csv_danish_numbers_refuse_a_point_that_reads_two_ways() -> None:
    path = DATA / "csv_numbers_danish.csv"
    assert_reads(
        path,
        [
            (where(path, 2), AMBIGUOUS_1050),
            (where(path, 3), AMBIGUOUS_1234),
            (where(path, 4), lab(C, "NPU18016", 1234.5, "µmol/L", nov(20, 8, 30))),
            (where(path, 5), lab(E, "NPU02319", 7.5, "mmol/L", nov(20, 9, 0))),
            (where(path, 6), lab(A, "NPU01370", 48.25, "g/L", nov(20, 9, 15))),
        ],
    )


def test_csv_english_number_in_danish_file_is_a_row_error() -> None:
    path = DATA / "csv_numbers_english_in_danish.csv"
    assert_reads(
        path,
        [
            (where(path, 2), lab(A, "NPU02319", 8.4, "mmol/L", nov(20, 8, 0))),
            (where(path, 3), ENGLISH_1234_5),
        ],
    )


@pytest.mark.parametrize("name", ["lo_numbers_text.xlsx", "lo_numbers_text.ods"])
def test_numbers_in_text_cells_read_as_danish(name: str) -> None:
    path = DATA / name
    assert_reads(
        path,
        [
            (where(path, 2), AMBIGUOUS_1050),
            (where(path, 3), AMBIGUOUS_1234),
            (where(path, 4), lab(C, "NPU18016", 1234.5, "µmol/L", nov(20, 8, 30))),
            (where(path, 5), ENGLISH_1234_5),
            (where(path, 6), lab(E, "NPU02319", 7.5, "mmol/L", nov(20, 9, 0))),
            (where(path, 7), lab(A, "NPU01370", 48.25, "g/L", nov(20, 9, 15))),
        ],
    )


def test_number_cells_are_exact() -> None:
    path = DATA / "lo_numbers_cells.xlsx"
    assert_reads(
        path,
        [
            (where(path, 2), lab(A, "NPU18016", 1050.0, "µmol/L", nov(20, 8, 0))),
            (where(path, 3), lab(B, "NPU03568", 1234.0, "10^9/L", nov(20, 8, 15))),
            (where(path, 4), lab(C, "NPU18016", 1234.5, "µmol/L", nov(20, 8, 30))),
            (where(path, 5), lab(E, "NPU02319", 7.5, "mmol/L", nov(20, 9, 0))),
            (where(path, 6), lab(A, "NPU01370", 48.25, "g/L", nov(20, 9, 15))),
            (where(path, 7), lab(D, "NPU03577", 1.234, "mIU/L", nov(20, 9, 30))),
        ],
    )


# -- 2 cut files --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["csv_cut_mid_value.csv", "csv_cut_comment.csv"])
def test_csv_cut_while_written_is_refused_whole(name: str) -> None:
    error = refused(DATA / name)

    assert (error.file, error.sheet, error.row, error.column) == (name, None, 3, None)
    assert error.message == (
        f"file {name}, row 3: the last line, line 3, has no line end while the others "
        "have: the file was probably cut while being written (copied before it was "
        "complete); wait for the complete file or ask for it again"
    )


# -- 3 wrong sheet ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["lo_hidden_first_sheet.xlsx", "lo_hidden_first_sheet.ods"]
)
def test_hidden_sheet_loads_only_when_named(name: str) -> None:
    path = DATA / name
    at = f"{name}, sheet 'Gammel kopi', row"
    assert_reads(
        path,
        [
            (f"{at} 2", lab(A, "NPU02319", 7.1, "mmol/L", nov(13, 8, 0), "gammel")),
            (f"{at} 3", lab(D, "NPU02192", 6.2, "mmol/L", nov(13, 7, 45), "gammel")),
        ],
        sheet="Gammel kopi",
    )


def test_two_visible_sheets_with_the_columns_are_refused_unless_one_is_named() -> None:
    name = "lo_two_visible_sheets.xlsx"
    error = refused(DATA / name)

    assert (error.file, error.sheet, error.row, error.column) == (
        name,
        None,
        None,
        None,
    )
    assert error.message == (
        f"file {name}: the sheets 'Resultater' and 'Resultater (2)' both have the "
        "expected columns, so which one to read cannot be told; delete or rename the "
        "other sheet, or the robot may name the sheet to read (sheet=)"
    )


# -- 4 hidden and filtered rows -----------------------------------------------------

HIDDEN_HINT = (
    "(filtered away or hidden in Excel) and would not be seen by whoever checks the "
    "sheet; clear the filter or show the rows and save the file, or the robot may "
    "declare hidden_rows='skip' or hidden_rows='include'"
)


@pytest.mark.parametrize(
    ("name", "hidden"),
    [
        ("lo_hidden_rows.xlsx", "row 3 is hidden"),
        ("lo_hidden_rows.ods", "row 3 is hidden"),
        ("lo_filtered_rows.xlsx", "rows 3 and 5 are hidden"),
        ("lo_filtered_rows.ods", "rows 3 and 5 are hidden"),
    ],
)
def test_hidden_rows_refuse_the_file_by_default(name: str, hidden: str) -> None:
    error = refused(DATA / name)

    assert (error.file, error.sheet, error.row, error.column) == (
        name,
        "Resultater",
        None,
        None,
    )
    assert error.message == f"file {name}, sheet 'Resultater': {hidden} {HIDDEN_HINT}"


FILTERED_2 = lab(A, "NPU02319", 8.4, "mmol/L", nov(20, 8, 0))
FILTERED_3 = lab(B, "NPU03429", 141.0, "mmol/L", nov(20, 8, 15))
FILTERED_4 = lab(C, "NPU02319", 7.9, "mmol/L", nov(20, 9, 30))
FILTERED_5 = lab(D, "NPU19748", 3.0, "mg/L", nov(20, 9, 45))


@pytest.mark.parametrize(
    ("name", "kept", "skipped"),
    [
        ("lo_hidden_rows.xlsx", [(2, G2), (4, G4)], [3]),
        ("lo_hidden_rows.ods", [(2, G2), (4, G4)], [3]),
        ("lo_filtered_rows.xlsx", [(2, FILTERED_2), (4, FILTERED_4)], [3, 5]),
        ("lo_filtered_rows.ods", [(2, FILTERED_2), (4, FILTERED_4)], [3, 5]),
    ],
)
def test_hidden_rows_skipped_are_logged(
    name: str, kept: list[tuple[int, dict[str, Any]]], skipped: list[int]
) -> None:
    path = DATA / name
    with capture_logs() as logs:
        assert_reads(
            path,
            [(where(path, row), values) for row, values in kept],
            hidden_rows="skip",
        )

    notes = [e for e in logs if e["event"] == "input_hidden_rows_skipped"]
    assert [(e["file"], e["sheet"], e["rows"]) for e in notes] == [
        (name, "Resultater", skipped)
    ]


@pytest.mark.parametrize("name", ["lo_filtered_rows.xlsx", "lo_filtered_rows.ods"])
def test_filtered_rows_included_load_all_four(name: str) -> None:
    path = DATA / name
    assert_reads(
        path,
        [
            (where(path, 2), FILTERED_2),
            (where(path, 3), FILTERED_3),
            (where(path, 4), FILTERED_4),
            (where(path, 5), FILTERED_5),
        ],
        hidden_rows="include",
    )


# -- 5/6 time zones and dates -------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "csv_timezones.csv",
        "lo_timezones_text.xlsx",
        "lo_dates_cells_and_text.xlsx",
        "lo_dates_cells_and_text.ods",
    ],
)
def test_times_load_as_naive_copenhagen_wall_clock(name: str) -> None:
    # csv_timezones / lo_timezones_text: +01:00, Z (07:15 UTC) and no offset;
    # lo_dates_cells_and_text: a date cell, '20-11-2026 08:15', '20.11.2026 09:30'
    path = DATA / name
    assert_reads(
        path,
        [
            (where(path, 2), G2),
            (where(path, 3), {**G3, "comment": ""}),
            (where(path, 4), G4),
        ],
    )


def _month_first(value: str, iso: str) -> Bad:
    return Bad(
        "Prøvetidspunkt",
        f"not a valid date day first (month {int(value[3:5])}): it is probably "
        f"written month first; write it as {iso} (yyyy-mm-dd) (value {value!r})",
    )


READS_TWO_WAYS = Bad(
    "Prøvetidspunkt",
    "value '11/05/2026 08:15' reads as 11 May 2026 day first (Danish order) and as "
    "5 November 2026 month first, the order row 2 of this column proves "
    "('11/19/2026'); write it as 2026-11-05 (or 2026-05-11) to say which",
)


def test_csv_day_month_order_proven_by_another_line_refuses_the_ambiguous_one() -> None:
    path = DATA / "csv_day_month_order.csv"
    assert_reads(
        path,
        [
            (where(path, 2), _month_first("11/19/2026 08:00", "2026-11-19")),
            (where(path, 3), READS_TWO_WAYS),
        ],
    )


def test_workbook_day_month_order_proven_by_other_rows_refuses_the_ambiguous_one() -> (
    None
):
    path = DATA / "lo_day_month_order.xlsx"
    assert_reads(
        path,
        [
            (where(path, 2), _month_first("11/19/2026 08:00", "2026-11-19")),
            (where(path, 3), READS_TWO_WAYS),
            (where(path, 4), _month_first("11/20/2026 09:30", "2026-11-20")),
        ],
    )


# -- 7 CPR numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["lo_cpr_number_format_10.xlsx", "lo_cpr_number_format_10.ods"]
)
def test_cpr_number_cell_formatted_with_ten_digits_reads_as_shown(name: str) -> None:
    # 909689473 in a number cell whose format 0000000000 shows 0909689473
    path = DATA / name
    assert_reads(
        path,
        [
            (where(path, 2), lab(Z, "NPU02319", 8.4, "mmol/L", nov(20, 8, 0))),
            (where(path, 3), lab(B, "NPU03429", 141.0, "mmol/L", nov(20, 8, 15))),
        ],
    )


LOST_ZERO = Bad(
    "CPR-nummer",
    "a leading zero was probably lost when the CPR was stored as a number: "
    "090968-****? Format the column as text and type all ten digits "
    "(value 9096**-**** (9 digits))",
)


@pytest.mark.parametrize(
    ("name", "row_3"),
    [
        (
            "lo_cpr_number_lost_zero.xlsx",
            lab(B, "NPU03429", 141.0, "mmol/L", nov(20, 8, 15)),
        ),
        ("csv_cpr_lost_zero.csv", lab(A, "NPU02319", 8.1, "mmol/L", nov(20, 8, 5))),
    ],
)
def test_cpr_stored_as_number_hints_the_lost_zero_masked(
    name: str, row_3: dict[str, Any]
) -> None:
    path = DATA / name
    assert_reads(
        path,
        [(where(path, 2), LOST_ZERO), (where(path, 3), row_3)],
        forbidden=["909689473", "0909689473", Z],
    )


# Z, NPU02319, mmol/L on 2026-11-20, as rows 2-7 of lo_cpr_separators.xlsx type it:
# space, no-break space, en dash, ' - ', zero-width space, no separator.
SEPARATED = [
    lab(Z, "NPU02319", value, "mmol/L", nov(20, 8, minute))
    for value, minute in [
        (8.4, 0),
        (8.5, 5),
        (8.6, 10),
        (8.7, 15),
        (8.8, 20),
        (8.9, 25),
    ]
]


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("lo_cpr_separators.xlsx", SEPARATED),
        # the first four, with cp1252's no-break space (0xA0) and en dash (0x96)
        ("csv_cpr_separators_cp1252.csv", SEPARATED[:4]),
        # '090968\u200b-9473' and '\u200b0909689473'
        ("csv_cpr_zero_width_utf8_bom.csv", SEPARATED[4:]),
    ],
)
def test_cpr_separators_load_as_ddmmyy_ssss(
    name: str, rows: list[dict[str, Any]]
) -> None:
    path = DATA / name
    assert_reads(path, [(where(path, n), values) for n, values in enumerate(rows, 2)])


# -- 8 CPR in messages --------------------------------------------------------------


@pytest.mark.parametrize("name", ["lo_cpr_malformed.xlsx", "csv_cpr_malformed.csv"])
def test_malformed_cpr_is_masked_in_the_row_error(name: str) -> None:
    path = DATA / name
    assert_reads(
        path,
        [
            (
                where(path, 2),
                Bad(
                    "CPR-nummer",
                    "a CPR number has ten digits, not 11: type it as DDMMYY-SSSS "
                    "(ten digits) (value 2202**-**** (11 digits))",
                ),
            ),
            (
                where(path, 3),
                Bad(
                    "CPR-nummer",
                    "a letter is among the digits (the 5th character): a CPR number "
                    "has digits only, type it as DDMMYY-SSSS (ten digits) "
                    "(value 2202**-**** (9 digits and a letter))",
                ),
            ),
            (where(path, 4), lab(A, "NPU02319", 8.4, "mmol/L", nov(20, 8, 0))),
        ],
        forbidden=["220209-40021", "22020940021", "2202O94002", "220209", B],
    )


# -- owner files --------------------------------------------------------------------


def test_excel_lock_file_read_directly_is_refused() -> None:
    error = refused(DATA / "glob" / "~$lab.xlsx")

    assert (error.file, error.sheet, error.row, error.column) == (
        "~$lab.xlsx",
        None,
        None,
        None,
    )
    assert error.message == (
        "file ~$lab.xlsx: this is Excel's lock file, not a workbook: it exists while "
        "someone has lab.xlsx open; read lab.xlsx instead"
    )


# -- 9 corrections (what the files load; the queue is tested elsewhere) -------------


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        (
            "corrections_yesterday.csv",
            [
                lab(A, "NPU02319", 99.0, "mmol/L", nov(19, 8, 0)),
                lab(B, "NPU03429", 141.0, "mmol/L", nov(19, 8, 15)),
                lab(C, "NPU19748", 12.5, "mg/L", nov(19, 9, 30)),
            ],
        ),
        (
            "corrections_today.csv",
            [
                lab(A, "NPU02319", 9.9, "mmol/L", nov(19, 8, 0), "Rettet"),
                lab(B, "NPU03429", 143.0, "mmol/L", nov(19, 8, 15)),
                lab(C, "NPU19748", 12.5, "mg/L", nov(19, 9, 30)),
            ],
        ),
    ],
)
def test_corrections_files_load(name: str, rows: list[dict[str, Any]]) -> None:
    path = DATA / name
    assert_reads(path, [(where(path, n), values) for n, values in enumerate(rows, 2)])
