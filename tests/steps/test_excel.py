"""Reading spreadsheets and CSV files into validated items: excel.read_rows."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import openpyxl
import pytest
from pydantic import AliasChoices, BaseModel, Field, model_validator

from robotlib import Context, Robot
from robotlib.engine import Engine
from robotlib.errors import ConfigurationError, InputError
from robotlib.logs import build_redactor, configure_logging
from robotlib.queue import InMemoryBackend
from robotlib.queue.models import ItemState
from robotlib.robot import Row, RowError
from robotlib.settings import Settings
from robotlib.steps.excel import excel_source, read_rows
from robotlib.testing import capture_events


class LabResult(BaseModel):
    """One lab result, as the instrument export has it."""

    cpr: str
    sampled_at: datetime
    value: float
    unit: str | None = None


ALIASES = {
    "cpr": ["CPR-nummer", "Personnummer"],
    "sampled_at": ["Prøvetidspunkt"],
    "value": ["Værdi"],
    "unit": ["Enhed"],
}
HEADERS = ["CPR-nummer", "Prøvetidspunkt", "Værdi", "Enhed"]
SAMPLED = datetime(2026, 12, 24, 14, 30)
CPR1, CPR2, CPR3 = "010190-1234", "020285-2345", "150372-3456"


def write_xlsx(
    path: Path, rows: Sequence[Sequence[Any]], *, title: str = "Resultater"
) -> Path:
    """Write rows to the first sheet of a new workbook."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def read(path: Path, **options: Any) -> list[Row | RowError]:
    """Read every row of a lab results file."""
    options.setdefault("aliases", ALIASES)
    return list(read_rows(path, model=LabResult, **options))


def row(number: int, file: str = "lab.xlsx", **values: Any) -> Row:
    """The Row expected at a row number of the 'Resultater' sheet."""
    values = {"cpr": CPR1, "sampled_at": SAMPLED, "value": 7.5, **values}
    return Row(LabResult(**values), f"{file}, sheet 'Resultater', row {number}")


def where(number: int, file: str = "lab.xlsx") -> str:
    """The location of a row of the 'Resultater' sheet."""
    return f"{file}, sheet 'Resultater', row {number}"


def cache_formula_results(path: Path, results: dict[str, str]) -> None:
    """Store cached formula results in the sheet XML, as Excel does when it saves."""
    with zipfile.ZipFile(path) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    xml = entries["xl/worksheets/sheet1.xml"].decode()
    for formula, result in results.items():
        xml = xml.replace(f"<f>{formula}</f><v />", f"<f>{formula}</f><v>{result}</v>")
    entries["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            target.writestr(name, data)


def rewrite_sheet_xml(path: Path, change: Any) -> None:
    """Rewrite the first sheet's XML, as another program might have written it."""
    with zipfile.ZipFile(path) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    name = "xl/worksheets/sheet1.xml"
    entries[name] = change(entries[name].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for member, data in entries.items():
            target.writestr(member, data)


_ODS = "urn:oasis:names:tc:opendocument:xmlns"


def write_ods(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    """Write rows to a table 'Resultater' of a minimal OpenDocument spreadsheet.

    Text starting with '#' is written as LibreOffice writes a formula error.
    """

    def cell(value: Any) -> str:
        if value is None:
            return "<table:table-cell/>"
        if isinstance(value, str) and value.startswith("#"):
            return (
                '<table:table-cell table:formula="of:=1/0" office:value-type="string" '
                'office:string-value="" calcext:value-type="error">'
                f"<text:p>{value}</text:p></table:table-cell>"
            )
        if isinstance(value, datetime):
            kind, attribute = "date", f'office:date-value="{value.isoformat()}"'
        elif isinstance(value, int | float):
            kind, attribute = "float", f'office:value="{value}"'
        else:
            return (
                '<table:table-cell office:value-type="string">'
                f"<text:p>{value}</text:p></table:table-cell>"
            )
        return (
            f'<table:table-cell office:value-type="{kind}" {attribute}>'
            f"<text:p>{value}</text:p></table:table-cell>"
        )

    body = "".join(
        f"<table:table-row>{''.join(map(cell, values))}</table:table-row>"
        for values in rows
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        f'xmlns:office="{_ODS}:office:1.0" xmlns:table="{_ODS}:table:1.0" '
        f'xmlns:text="{_ODS}:text:1.0" xmlns:calcext="urn:org:documentfoundation:'
        'names:experimental:calc:xmlns:calcext:1.0" office:version="1.2">'
        "<office:body><office:spreadsheet>"
        f'<table:table table:name="Resultater">{body}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        f'"{_ODS}:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
        'manifest:full-path="/" manifest:media-type="application/vnd.oasis.'
        'opendocument.spreadsheet"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "mimetype",
            "application/vnd.oasis.opendocument.spreadsheet",
            compress_type=zipfile.ZIP_STORED,
        )
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", manifest)
    return path


# Headers ---------------------------------------------------------------------------


def test_danish_headers_through_aliases(tmp_path: Path) -> None:
    """Danish headers map to fields through aliases; rows carry their location."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [
            HEADERS,
            [CPR1, SAMPLED, 7.5, "mmol/L"],
            [CPR2, SAMPLED, 8.25, None],
        ],
    )

    rows = read(path)

    assert [row(2, unit="mmol/L"), row(3, cpr=CPR2, value=8.25)] == rows


def test_headers_match_whatever_case_spaces_dashes_and_underscores(
    tmp_path: Path,
) -> None:
    """'CPR_NUMMER', ' værdi ' and 'prøve-tidspunkt' match 'CPR-nummer' and friends."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [
            ["CPR_NUMMER", "  prøve - tidspunkt", " værdi ", "ENHED"],
            [CPR1, SAMPLED, 7.5, "mmol/L"],
        ],
    )
    aliases = {**ALIASES, "sampled_at": ["Prøve-tidspunkt"]}

    rows = read(path, aliases=aliases)

    assert [row(2, unit="mmol/L")] == rows


def test_second_alias_and_extra_columns(tmp_path: Path) -> None:
    """Any listed header is accepted, and columns the model lacks are ignored."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [
            ["Afdeling", "Personnummer", "Bemærkning", "Værdi", "Prøvetidspunkt"],
            ["Kardiologi", CPR1, "hæmolyse", 7.5, SAMPLED],
        ],
    )

    assert [row(2)] == read(path)


def test_pydantic_field_aliases_are_headers(tmp_path: Path) -> None:
    """A field's alias and validation aliases are accepted headers without aliases."""

    class Sample(BaseModel):
        cpr: str = Field(alias="CPR-nummer")
        code: str = Field(validation_alias=AliasChoices("NPU-kode", "Analysekode"))
        value: float

    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [["cpr nummer", "Analysekode", "VALUE"], [CPR1, "NPU02319", "7,5"]],
    )

    rows = list(read_rows(path, model=Sample))

    expected = Sample.model_validate(
        {"CPR-nummer": CPR1, "NPU-kode": "NPU02319", "value": 7.5}
    )
    assert [Row(expected, where(2))] == rows


def test_header_below_a_title_is_found(tmp_path: Path) -> None:
    """A title and blank row above the table are skipped to the real header row."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [["Laboratoriesvar december"], [], HEADERS, [CPR1, SAMPLED, 7.5, None]],
    )

    assert [row(4)] == read(path)


def test_header_row_given(tmp_path: Path) -> None:
    """header_row names the header's row; the rows above it are ignored."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [["Eksport"], ["CPR-nummer"], HEADERS, [CPR1, SAMPLED, 7.5, None]],
    )

    assert [row(4)] == read(path, header_row=3)


def test_merged_header_cell_value_sits_in_its_first_cell(tmp_path: Path) -> None:
    """A header merged over two columns names the first; the second reads empty."""
    path = tmp_path / "lab.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Resultater"
    sheet.append(["CPR-nummer", None, "Prøvetidspunkt", "Værdi"])
    sheet.merge_cells("A1:B1")
    sheet.append([CPR1, "ignored", SAMPLED, 7.5])
    workbook.save(path)

    assert [row(2)] == read(path)


def test_required_header_lost_under_a_merge_is_a_missing_column(
    tmp_path: Path,
) -> None:
    """A required field whose header was merged over gives the missing-column error."""
    path = tmp_path / "lab.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Resultater"
    sheet.append(["CPR-nummer", "Værdi", "Prøvetidspunkt"])
    sheet.merge_cells("A1:B1")
    sheet.append([CPR1, 7.5, SAMPLED])
    workbook.save(path)

    with pytest.raises(InputError) as caught:
        read(path)

    assert "value" == caught.value.column
    assert (
        "file lab.xlsx, sheet 'Resultater', row 1, column 'value': missing column "
        "for 'value' (accepted headers: 'value', 'Værdi'). The header row has: "
        "'CPR-nummer', 'Prøvetidspunkt'"
    ) == str(caught.value)


def test_missing_columns_are_listed_with_their_accepted_headers(
    tmp_path: Path,
) -> None:
    """Every missing required column is named with the headers it may have."""
    path = write_xlsx(tmp_path / "lab.xlsx", [["CPR nr.", "Svar"], [CPR1, 7.5]])

    with pytest.raises(InputError) as caught:
        read(path)

    assert (
        "file lab.xlsx, sheet 'Resultater', row 1: missing columns for 'cpr' "
        "(accepted headers: 'cpr', 'CPR-nummer', 'Personnummer'); 'sampled_at' "
        "(accepted headers: 'sampled_at', 'Prøvetidspunkt'); 'value' (accepted "
        "headers: 'value', 'Værdi'). The header row has: 'CPR nr.', 'Svar'"
    ) == str(caught.value)


def test_two_columns_for_one_field(tmp_path: Path) -> None:
    """Two headers that both mean one field are refused, naming both columns."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [[*HEADERS, "Personnummer"], [CPR1, SAMPLED, 7.5, None, CPR2]],
    )

    with pytest.raises(InputError) as caught:
        read(path)

    assert (
        "file lab.xlsx, sheet 'Resultater', row 1, column 'Personnummer': columns "
        "'CPR-nummer' (column A) and 'Personnummer' (column E) both give the field "
        "'cpr'; remove or rename one of them"
    ) == str(caught.value)


def test_aliases_for_an_unknown_field(tmp_path: Path) -> None:
    """Aliases naming a field the model lacks are a configuration error."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS])

    with pytest.raises(ConfigurationError, match="'vaerdi', which LabResult has"):
        read(path, aliases={"vaerdi": ["Værdi"]})


# Values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24-12-2026", datetime(2026, 12, 24)),
        ("24.12.2026", datetime(2026, 12, 24)),
        ("24/12/2026", datetime(2026, 12, 24)),
        ("2026-12-24", datetime(2026, 12, 24)),
        ("24-12-2026 14:30", SAMPLED),
        ("24.12.2026 14:30:15", SAMPLED.replace(second=15)),
        ("4/1/2026 08:05", datetime(2026, 1, 4, 8, 5)),
        ("2026-12-24T14:30", SAMPLED),
        ("2026-12-24 14:30:15", SAMPLED.replace(second=15)),
    ],
)
def test_text_dates_for_datetime_fields(
    tmp_path: Path, text: str, expected: datetime
) -> None:
    """Danish and ISO text dates, with or without a time, become datetimes."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS, [CPR1, text, 7.5]])

    assert [row(2, sampled_at=expected)] == read(path)


@pytest.mark.parametrize(
    "cell", ["24-12-2026", "24.12.2026", "24/12/2026", "2026-12-24", SAMPLED]
)
def test_dates_for_optional_date_fields(tmp_path: Path, cell: Any) -> None:
    """An Optional[date] field takes text dates and Excel date cells at midnight."""

    class Visit(BaseModel):
        cpr: str
        visit: date | None = None

    cell = cell.replace(hour=0, minute=0) if isinstance(cell, datetime) else cell
    path = write_xlsx(tmp_path / "visits.xlsx", [["cpr", "visit"], [CPR1, cell]])

    rows = list(read_rows(path, model=Visit))

    assert [
        Row(Visit(cpr=CPR1, visit=date(2026, 12, 24)), where(2, "visits.xlsx"))
    ] == rows


def test_bad_dates_are_row_errors(tmp_path: Path) -> None:
    """An impossible date, an unknown format or a number in a date column fail."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [HEADERS, [CPR1, "31-02-2026", 7.5], [CPR1, "dec 24", 7.5], [CPR1, 46015, 7.5]],
    )

    rows = read(path)

    assert [
        RowError(
            where(2), "column 'Prøvetidspunkt': not a valid date (value '31-02-2026')"
        ),
        RowError(
            where(3),
            "column 'Prøvetidspunkt': not a date in a known format (dd-mm-yyyy, "
            "dd.mm.yyyy, dd/mm/yyyy or yyyy-mm-dd, optionally with a time HH:MM) "
            "(value 'dec 24')",
        ),
        RowError(
            where(4),
            "column 'Prøvetidspunkt': a number, not a date (format the column as a "
            "date) (value 46015)",
        ),
    ] == rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7,5", 7.5),
        ("1.234,5", 1234.5),
        ("1 234,5", 1234.5),
        ("-0,25", -0.25),
        ("1.234.567", 1234567.0),
        ("7.5", 7.5),
        (" 8 ", 8.0),
    ],
)
def test_decimal_commas_for_float_fields(
    tmp_path: Path, text: str, expected: float
) -> None:
    """Decimal commas and thousands dots are read; a dot that can only be a decimal
    point is one (``1.250``, which can be either, is refused: test_excel_locale)."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS, [CPR1, SAMPLED, text]])

    assert [row(2, value=expected)] == read(path)


def test_decimal_commas_for_decimal_and_int_fields(tmp_path: Path) -> None:
    """Decimal fields keep exact digits; int fields take '1.234,0' and 12.0."""

    class Count(BaseModel):
        amount: Decimal
        count: int
        code: str

    path = write_xlsx(
        tmp_path / "counts.xlsx",
        [["amount", "count", "code"], ["1.234,50", "1.234,0", 12.0], [0.1, 12.0, 7]],
    )

    rows = list(read_rows(path, model=Count))

    assert [
        Count(amount=Decimal("1234.50"), count=1234, code="12"),
        Count(amount=Decimal("0.1"), count=12, code="7"),
    ] == [r.values for r in rows if isinstance(r, Row)]


def test_booleans_literals_and_dates_in_text_fields(tmp_path: Path) -> None:
    """'ja'/'nej' are booleans, 2.0 fits Literal[2], a date in a text field is ISO."""

    class Answer(BaseModel):
        fasting: bool
        level: Literal[1, 2]
        kind: Literal["blod", "urin"]
        noted: str

    path = write_xlsx(
        tmp_path / "answers.xlsx",
        [
            ["fasting", "level", "kind", "noted"],
            ["Ja", 2.0, " urin ", datetime(2026, 12, 24)],
            ["nej", "1", "blod", SAMPLED],
        ],
    )

    rows = list(read_rows(path, model=Answer))

    assert [
        Answer(fasting=True, level=2, kind="urin", noted="2026-12-24"),
        Answer(fasting=False, level=1, kind="blod", noted="2026-12-24 14:30:00"),
    ] == [r.values for r in rows if isinstance(r, Row)]


def test_model_validator_errors_name_the_row(tmp_path: Path) -> None:
    """An error of the whole model (not one field) is reported for the row."""

    class Range(BaseModel):
        low: float
        high: float

        @model_validator(mode="after")
        def _ordered(self) -> Range:
            if self.low > self.high:
                raise ValueError("low is above high")
            return self

    path = write_xlsx(tmp_path / "ranges.xlsx", [["low", "high"], ["9,5", 3]])

    rows = list(read_rows(path, model=Range))

    assert [
        RowError(where(2, "ranges.xlsx"), "row: Value error, low is above high")
    ] == rows


def test_text_is_stripped_and_empty_cells_take_the_default(tmp_path: Path) -> None:
    """Surrounding spaces are removed and a blank cell leaves the field's default."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [HEADERS, [f"  {CPR1} ", SAMPLED, 7.5, "   "], [CPR2, SAMPLED, 7.5, "mmol/L"]],
    )

    assert [row(2), row(3, cpr=CPR2, unit="mmol/L")] == read(path)


def test_empty_rows_are_skipped(tmp_path: Path) -> None:
    """Rows with nothing but empty or blank cells are skipped, numbering kept."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [
            HEADERS,
            [CPR1, SAMPLED, 7.5],
            [],
            [None, "  ", None, ""],
            [CPR2, SAMPLED, 7.5],
        ],
    )

    assert [row(2), row(5, cpr=CPR2)] == read(path)


def test_hidden_rows_are_refused(tmp_path: Path) -> None:
    """A hidden row refuses the sheet (see tests/steps/test_excel_structure.py)."""
    path = tmp_path / "lab.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Resultater"
    for values in (HEADERS, [CPR1, SAMPLED, 7.5], [CPR2, SAMPLED, 7.5]):
        sheet.append(values)
    sheet.row_dimensions[2].hidden = True
    workbook.save(path)

    with pytest.raises(InputError, match="row 2 is hidden"):
        read(path)


def test_formulas_are_read_by_their_cached_value(tmp_path: Path) -> None:
    """A formula reads as the value Excel cached; one without a cache reads empty."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [
            [*HEADERS, "Rå"],
            [CPR1, SAMPLED, "=E2*2", None, 3.75],
            [CPR2, SAMPLED, 7.5, "=E2", 1],
        ],
    )
    cache_formula_results(path, {"E2*2": "7.5"})

    assert [row(2), row(3, cpr=CPR2)] == read(path)


@pytest.mark.parametrize(
    "code", ["#REF!", "#DIV/0!", "#N/A", "#VALUE!", "#NAME?", "Err:502"]
)
def test_formula_errors_are_row_errors(tmp_path: Path, code: str) -> None:
    """An error cell makes its row a RowError naming the column; others go on."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [HEADERS, [CPR1, SAMPLED, code], [CPR2, SAMPLED, 7.5]],
    )

    rows = read(path)

    assert [
        RowError(where(2), f"formula error {code} in column 'Værdi'"),
        row(3, cpr=CPR2),
    ] == rows


def test_invalid_value_names_the_column_value_and_reason(tmp_path: Path) -> None:
    """A row failing validation names the sheet's header, the value and why."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [HEADERS, [CPR1, SAMPLED, "abc"], [None, SAMPLED, 7.5], [CPR2, SAMPLED, 7.5]],
    )

    rows = read(path)

    assert [
        RowError(
            where(2),
            "column 'Værdi': Input should be a valid number, unable to parse string "
            "as a number (value 'abc')",
        ),
        RowError(
            where(3), "column 'CPR-nummer': a value is required (the cell is empty)"
        ),
        row(4, cpr=CPR2),
    ] == rows


def test_header_only_yields_nothing(tmp_path: Path) -> None:
    """A sheet with a header and no data rows gives no rows and no error."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS])

    assert [] == read(path)


# File problems ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    """A file that does not exist is an InputError naming it (not its folder)."""
    with pytest.raises(InputError) as caught:
        read(tmp_path / "lab.xlsx")

    assert "file lab.xlsx: the file does not exist" == str(caught.value)


def test_wrong_sheet_name_lists_the_sheets(tmp_path: Path) -> None:
    """Asking for a sheet the workbook lacks lists the sheets it has."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS])
    workbook = openpyxl.load_workbook(path)
    workbook.create_sheet("Noter")
    workbook.save(path)

    with pytest.raises(InputError) as caught:
        read(path, sheet="Svar")

    assert (
        "file lab.xlsx, sheet 'Svar': the workbook has no sheet 'Svar'; its sheets "
        "are: 'Resultater', 'Noter'"
    ) == str(caught.value)


def test_sheet_name_case_and_spaces_do_not_matter(tmp_path: Path) -> None:
    """A sheet asked for as ' resultater' is the sheet 'Resultater'."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS, [CPR1, SAMPLED, 7.5]])

    assert [row(2)] == read(path, sheet=" resultater")


def test_text_file_named_xlsx(tmp_path: Path) -> None:
    """A text file renamed .xlsx is refused as not a workbook."""
    path = tmp_path / "lab.xlsx"
    path.write_text("CPR-nummer;Værdi\n010190-1234;7,5\n", encoding="utf-8")

    with pytest.raises(InputError, match=r"^file lab.xlsx: this is not an Excel"):
        read(path)


def test_encrypted_workbook(tmp_path: Path) -> None:
    """A password-protected xlsx (an OLE2 container) is named as encrypted."""
    path = tmp_path / "lab.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))

    with pytest.raises(InputError) as caught:
        read(path)

    assert str(caught.value).startswith(
        "file lab.xlsx: the workbook is password-protected (encrypted); save it "
        "without a password"
    )


def test_legacy_xls_workbook(tmp_path: Path) -> None:
    """An Excel 97-2003 .xls file is named as such, with how to convert it."""
    path = tmp_path / "lab.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))

    with pytest.raises(InputError, match=r"old-style \.xls workbook"):
        read(path)


def test_truncated_workbook(tmp_path: Path) -> None:
    """A workbook cut off mid-copy is reported as damaged or incomplete."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS, [CPR1, SAMPLED, 7.5]])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(InputError, match=r"^file lab.xlsx: the workbook is damaged"):
        read(path)


def test_empty_sheet(tmp_path: Path) -> None:
    """A sheet with no rows at all has no header row: an InputError."""
    path = write_xlsx(tmp_path / "lab.xlsx", [])

    with pytest.raises(InputError) as caught:
        read(path)

    assert (
        "file lab.xlsx, sheet 'Resultater': the sheet is empty: there is no header row"
    ) == str(caught.value)


def test_empty_file(tmp_path: Path) -> None:
    """A file of zero bytes is an InputError saying so."""
    path = tmp_path / "lab.xlsx"
    path.write_bytes(b"")

    with pytest.raises(InputError, match=r"^file lab.xlsx: the file is empty$"):
        read(path)


def test_another_kind_of_zip_file(tmp_path: Path) -> None:
    """A zip that is not a workbook (a .docx renamed) is refused as not an xlsx."""
    path = tmp_path / "lab.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")

    with pytest.raises(InputError, match="cannot be read as an Excel workbook"):
        read(path)


def test_header_row_past_the_end(tmp_path: Path) -> None:
    """A header_row below the last row is an InputError naming where the sheet ends."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS, [CPR1, SAMPLED, 7.5]])

    with pytest.raises(InputError) as caught:
        read(path, header_row=5)

    assert (
        "file lab.xlsx, sheet 'Resultater': there is no header row 5: the sheet "
        "ends at row 2"
    ) == str(caught.value)


def test_aliases_that_make_a_header_ambiguous(tmp_path: Path) -> None:
    """One header accepted by two fields is a configuration error."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS])

    with pytest.raises(ConfigurationError, match="would match two fields"):
        read(path, aliases={**ALIASES, "unit": ["Værdi"]})


def test_import_stays_light() -> None:
    """Importing the excel steps imports neither python-calamine nor openpyxl."""
    code = (
        "import robotlib.steps.excel, sys; "
        "print('openpyxl' in sys.modules, 'python_calamine' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert "False False" == result.stdout.strip()


def test_missing_python_calamine_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without python-calamine, reading an xlsx raises an ImportError naming it."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS])
    monkeypatch.setitem(sys.modules, "python_calamine", None)

    with pytest.raises(ImportError, match="pip install python-calamine"):
        read(path)


def test_missing_openpyxl_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sheet only openpyxl can read, without openpyxl, names the package."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS, [CPR1, SAMPLED, "#REF!"]])
    rewrite_sheet_xml(path, lambda xml: xml.replace("#REF!", "#SPILL!"))
    monkeypatch.setitem(sys.modules, "openpyxl", None)

    with pytest.raises(ImportError, match="pip install openpyxl"):
        read(path)


# What python-calamine reads differently ---------------------------------------------


class Cells(BaseModel):
    """Cells as the reader hands them over, unconverted (an Any field is kept)."""

    a: Any = None
    b: Any = None
    c: Any = None


def read_cells(path: Path) -> list[Cells]:
    """The rows of a sheet with headers a, b, c, as Cells."""
    return [r.values for r in read_rows(path, model=Cells) if isinstance(r, Row)]


def test_whole_numbers_are_ints_and_fractions_stay_floats(tmp_path: Path) -> None:
    """calamine's 7.0 for a whole number reads as 7, as openpyxl gave; 7.5 stays."""
    path = write_xlsx(
        tmp_path / "cells.xlsx", [["a", "b", "c"], [7, 7.5, -2.0], [2**60, 0, 1e20]]
    )

    rows = read_cells(path)

    assert [Cells(a=7, b=7.5, c=-2), Cells(a=float(2**60), b=0, c=1e20)] == rows
    assert [int, float, int] == [type(v) for v in rows[0].model_dump().values()]
    assert [float, int, float] == [type(v) for v in rows[1].model_dump().values()]


def test_empty_cells_are_none_not_empty_text(tmp_path: Path) -> None:
    """An empty cell (calamine's "") leaves the field's default, never ""."""
    path = write_xlsx(tmp_path / "cells.xlsx", [["a", "b", "c"], ["x", None, "z"]])

    assert [Cells(a="x", c="z")] == read_cells(path)


def test_date_cells_are_datetimes(tmp_path: Path) -> None:
    """A date cell at midnight (calamine's date) reads as a datetime, as before."""
    path = write_xlsx(
        tmp_path / "cells.xlsx",
        [["a", "b", "c"], [datetime(2026, 12, 24), SAMPLED, date(2026, 1, 2)]],
    )

    assert [
        Cells(a=datetime(2026, 12, 24), b=SAMPLED, c=datetime(2026, 1, 2))
    ] == read_cells(path)
    assert [row(2, sampled_at=datetime(2026, 12, 24))] == read(
        write_xlsx(
            tmp_path / "lab.xlsx", [HEADERS, [CPR1, datetime(2026, 12, 24), 7.5]]
        )
    )


def test_formula_error_in_an_optional_column_is_a_row_error(tmp_path: Path) -> None:
    """An error cell calamine reads as empty is still an error, not a default."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [HEADERS, [CPR1, SAMPLED, 7.5, "#N/A"], [CPR2, SAMPLED, 7.5, None]],
    )

    assert [
        RowError(where(2), "formula error #N/A in column 'Enhed'"),
        row(3, cpr=CPR2),
    ] == read(path)


def test_error_code_calamine_does_not_know_is_read_by_openpyxl(
    tmp_path: Path,
) -> None:
    """A sheet with #SPILL! (which calamine fails on) is read, and the row fails."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [HEADERS, [CPR1, SAMPLED, "#REF!"], [CPR2, SAMPLED, 7.5]],
    )
    rewrite_sheet_xml(path, lambda xml: xml.replace("#REF!", "#SPILL!"))

    assert [
        RowError(where(2), "formula error #SPILL! in column 'Værdi'"),
        row(3, cpr=CPR2),
    ] == read(path)


def test_error_cell_without_a_reference_is_read_by_openpyxl(tmp_path: Path) -> None:
    """From an error cell that cannot be located (no r attribute) on, openpyxl
    reads the rows, and the error still fails its row."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [
            HEADERS,
            [CPR1, SAMPLED, 7.5, "mmol/L"],
            [CPR2, SAMPLED, "#DIV/0!", "mmol/L"],
            [CPR3, SAMPLED, 7.5, "mmol/L"],
        ],
    )
    rewrite_sheet_xml(path, lambda xml: xml.replace('<c r="C3" t="e">', '<c t="e">'))

    assert [
        row(2, unit="mmol/L"),
        RowError(where(3), "formula error #DIV/0! in column 'Værdi'"),
        row(4, cpr=CPR3, unit="mmol/L"),
    ] == read(path)


def test_sheet_starting_at_c3_keeps_row_numbers_and_column_letters(
    tmp_path: Path,
) -> None:
    """Rows and columns before the first value keep the sheet's numbering."""
    path = tmp_path / "lab.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Resultater"
    for offset, values in enumerate(
        [[*HEADERS, "Personnummer"], [CPR1, SAMPLED, "abc"], [CPR2, SAMPLED, 7.5]]
    ):
        for column, value in enumerate(values):
            sheet.cell(row=3 + offset, column=3 + column, value=value)
    workbook.save(path)

    with pytest.raises(InputError, match=r"'CPR-nummer' \(column C\) and 'Personn"):
        read(path)
    assert [
        RowError(
            where(4),
            "column 'Værdi': Input should be a valid number, unable to parse string "
            "as a number (value 'abc')",
        ),
        row(5, cpr=CPR2),
    ] == read(path, aliases={**ALIASES, "cpr": ["CPR-nummer"]})


def test_first_worksheet_after_a_chartsheet(tmp_path: Path) -> None:
    """Without a sheet name the first worksheet is read, not a chartsheet."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS, [CPR1, SAMPLED, 7.5]])
    workbook = openpyxl.load_workbook(path)
    workbook.create_chartsheet("Diagram", 0)
    workbook.save(path)

    assert [row(2)] == read(path)


def test_opendocument_spreadsheet(tmp_path: Path) -> None:
    """An .ods reads like an xlsx: dates, numbers, row numbers and error cells."""
    path = write_ods(
        tmp_path / "lab.ods",
        [
            [None],
            HEADERS,
            [CPR1, SAMPLED, 7.5, "mmol/L"],
            [CPR2, SAMPLED, "#DIV/0!"],
            [CPR3, datetime(2026, 12, 24), 7],
        ],
    )

    assert [
        row(3, "lab.ods", unit="mmol/L"),
        RowError(where(4, "lab.ods"), "formula error #DIV/0! in column 'Værdi'"),
        row(5, "lab.ods", cpr=CPR3, sampled_at=datetime(2026, 12, 24), value=7),
    ] == read(path)


# CSV ---------------------------------------------------------------------------------


def test_csv_with_semicolons_bom_and_decimal_commas(tmp_path: Path) -> None:
    """A Danish Excel CSV (BOM, ';', decimal commas) reads with line numbers."""
    path = tmp_path / "lab.csv"
    path.write_text(
        "CPR-nummer;Prøvetidspunkt;Værdi;Enhed\n"
        f"{CPR1};24-12-2026 14:30;7,5;mmol/L\n"
        "\n"
        f'{CPR2};24.12.2026 14:30;"1.234,5";"mmol/\nL"\n'
        f"{CPR3};24/12/2026 14:30;abc;\n",
        encoding="utf-8-sig",
    )

    rows = read(path)

    assert [
        Row(
            LabResult(cpr=CPR1, sampled_at=SAMPLED, value=7.5, unit="mmol/L"),
            "lab.csv, row 2",
        ),
        Row(
            LabResult(cpr=CPR2, sampled_at=SAMPLED, value=1234.5, unit="mmol/\nL"),
            "lab.csv, row 4",
        ),
        RowError(
            "lab.csv, row 6",
            "column 'Værdi': Input should be a valid number, unable to parse string "
            "as a number (value 'abc')",
        ),
    ] == rows


def test_csv_with_commas(tmp_path: Path) -> None:
    """A comma-separated file is sniffed as such."""
    path = tmp_path / "lab.txt"
    path.write_text(
        f'CPR-nummer,Prøvetidspunkt,Værdi\n{CPR1},2026-12-24T14:30,"7,5"\n'
        f"{CPR2},2026-12-24 14:30,7.5\n",
        encoding="utf-8",
    )

    rows = read(path)

    assert [
        Row(LabResult(cpr=CPR1, sampled_at=SAMPLED, value=7.5), "lab.txt, row 2"),
        Row(LabResult(cpr=CPR2, sampled_at=SAMPLED, value=7.5), "lab.txt, row 3"),
    ] == rows


def test_csv_in_windows_1252_is_read_with_a_warning(tmp_path: Path) -> None:
    """A file that is not UTF-8 is read as Windows-1252 and the log says so."""
    path = tmp_path / "lab.csv"
    text = (
        f"CPR-nummer;Prøvetidspunkt;Værdi;Enhed\n{CPR1};24-12-2026 14:30;7,5;µmol/L\n"
    )
    path.write_bytes(text.encode("cp1252"))

    with capture_events() as events:
        rows = read(path)

    assert [
        Row(
            LabResult(cpr=CPR1, sampled_at=SAMPLED, value=7.5, unit="µmol/L"),
            "lab.csv, row 2",
        )
    ] == rows
    assert [("lab.csv", "warning")] == [
        (e["file"], e["log_level"]) for e in events if e["event"] == "input_not_utf8"
    ]


def test_csv_with_tabs_in_utf16(tmp_path: Path) -> None:
    """Excel's 'Unicode text' export (UTF-16, tab-separated) reads too."""
    path = tmp_path / "lab.txt"
    text = f"CPR-nummer\tPrøvetidspunkt\tVærdi\n{CPR1}\t24-12-2026 14:30\t7,5\n"
    path.write_text(text, encoding="utf-16")

    rows = read(path)

    assert [
        Row(LabResult(cpr=CPR1, sampled_at=SAMPLED, value=7.5), "lab.txt, row 2")
    ] == rows


def test_csv_in_neither_utf8_nor_windows_1252(tmp_path: Path) -> None:
    """Bytes no supported encoding can decode are an InputError with the line."""
    path = tmp_path / "lab.csv"
    path.write_bytes(b"CPR-nummer;V\xe6rdi\n010190-1234;7,5\n020285-2345;\x81\n")

    with pytest.raises(InputError) as caught:
        read(path)

    assert str(caught.value).startswith(
        "file lab.csv, row 3: the file is neither UTF-8 nor Windows-1252 text"
    )


def test_csv_that_is_a_workbook(tmp_path: Path) -> None:
    """An xlsx saved under a .csv name is refused with what to do."""
    path = write_xlsx(tmp_path / "lab.xlsx", [HEADERS])
    path = path.rename(tmp_path / "lab.csv")

    with pytest.raises(InputError, match="this is an Excel workbook, not CSV text"):
        read(path)


# Sources and the engine ------------------------------------------------------------


def test_excel_source_reads_the_input_override(tmp_path: Path) -> None:
    """The source reads `rpa run --input FILE` when given, else its own path."""
    default = write_xlsx(tmp_path / "default.xlsx", [HEADERS, [CPR1, SAMPLED, 7.5]])
    other = write_xlsx(tmp_path / "other.xlsx", [HEADERS, [CPR2, SAMPLED, 7.5]])
    source = excel_source(default, model=LabResult, aliases=ALIASES)

    assert [row(2, "default.xlsx")] == list(source(None))
    assert [row(2, "other.xlsx", cpr=CPR2)] == list(source(other))


def test_engine_turns_row_errors_into_business_exceptions(tmp_path: Path) -> None:
    """Bad rows become business exceptions at load while the good rows are done."""
    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [
            HEADERS,
            [CPR1, SAMPLED, 7.5, "mmol/L"],
            [CPR2, SAMPLED, "#DIV/0!", "mmol/L"],
            [CPR3, SAMPLED, "1,5", "mmol/L"],
        ],
    )
    registered: list[LabResult] = []

    def register(ctx: Context, item: LabResult) -> dict[str, Any]:
        registered.append(item)
        return {"registration_id": len(registered)}

    robot = Robot(
        name="lab_results",
        item=LabResult,
        source=excel_source(path, model=LabResult, aliases=ALIASES),
        reference=["cpr", "sampled_at"],
        process=register,
    )
    settings = Settings(project_dir=tmp_path)
    redactor = build_redactor(settings)
    configure_logging(settings, redactor=redactor, console_level="ERROR")
    backend = InMemoryBackend()

    result = Engine(robot, settings=settings, backend=backend, redactor=redactor).run()

    assert {"done": 2, "business_exception": 1} == result.counts
    assert [CPR1, CPR3] == [item.cpr for item in registered]
    rejected = backend.items("lab_results", states=[ItemState.BUSINESS_EXCEPTION])
    assert [f"{where(3)}: formula error #DIV/0! in column 'Værdi'"] == [
        item.error_message for item in rejected
    ]
    assert rejected[0].reference.startswith(f"{where(3)} #")


def test_100000_rows_are_streamed(tmp_path: Path) -> None:
    """A 100,000-row, 8-column sheet is read, every row of it, in order."""

    class Measurement(BaseModel):
        cpr: str
        code: str
        value: float
        unit: str
        sampled_at: datetime
        sequence: int
        device: int
        checked: bool

    def cells(n: int) -> list[Any]:
        return [
            f"0101{n % 100:02d}-{n % 10000:04d}",
            "NPU02319",
            n / 8,
            "mmol/L",
            SAMPLED + timedelta(minutes=n),
            n,
            n % 7,
            n % 2 == 0,
        ]

    def measurement(n: int) -> Measurement:
        return Measurement(**dict(zip(Measurement.model_fields, cells(n), strict=True)))

    path = tmp_path / "big.xlsx"
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Data")
    sheet.append(list(Measurement.model_fields))
    for n in range(100_000):
        sheet.append(cells(n))
    workbook.save(path)

    count, picked = 0, {}
    for count, result in enumerate(read_rows(path, model=Measurement), start=1):
        assert isinstance(result, Row)
        if count in (1, 54_321, 100_000):
            picked[result.location] = result.values
    assert 100_000 == count
    assert {
        "big.xlsx, sheet 'Data', row 2": measurement(0),
        "big.xlsx, sheet 'Data', row 54322": measurement(54_320),
        "big.xlsx, sheet 'Data', row 100001": measurement(99_999),
    } == picked
