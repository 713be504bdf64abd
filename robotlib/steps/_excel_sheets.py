"""Reading a workbook's sheet: python-calamine first, openpyxl where it cannot.

python-calamine (Rust's calamine) reads ``.xlsx``, ``.xlsm`` and ``.ods`` sheets
about 12x faster than openpyxl's streaming mode. It loads the whole sheet into Rust
memory (about 80 MB for 100,000 rows x 8 columns) and hands out one row at a time.
Its values are handed on as they are (the converters in
:mod:`robotlib.steps._excel_values` take them as well as openpyxl's: ``7.0`` for 7,
``""`` for an empty cell, a ``date`` for a date cell at midnight), with two fixes:

- a formula error cell (``#REF!``, ``#DIV/0!``) reads as ``""``, like an empty
  cell: its code is put back from the sheet's XML
  (:mod:`robotlib.steps._excel_error_cells`), searched from the first row with an
  empty cell on (a sheet without one cannot hold an error cell);
- the rows above the first cell with a value are there, empty, but the columns
  start at the first column with a value: the missing ones are added in front, so
  that a column's index is the sheet's (``A`` = 0).

A sheet the robot names is read, hidden or not. Otherwise the first visible
worksheet with the expected header is (see :func:`_chosen_sheet`): a hidden sheet,
often an old copy, is never read unless named. Rows hidden in the sheet (by hand,
or filtered away) are found in its XML and refused, skipped or read as the robot
declares (:mod:`robotlib.steps._excel_row_flags`), on both paths below.

An xlsx sheet falls back to openpyxl when python-calamine cannot read it (it fails
a whole sheet on an error code it does not know, such as ``#SPILL!``), and from
the row on where its error cells turn out not to be locatable (an error cell
without a reference).
"""

from __future__ import annotations

import contextlib
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from xml.etree.ElementTree import ParseError

from robotlib.errors import InputError
from robotlib.steps._excel_error_cells import (
    ErrorCells,
    ods_error_cells,
    xlsx_error_cells,
)
from robotlib.steps._excel_number_formats import (
    ods_padded_cells,
    padded,
    xlsx_padded_cells,
)
from robotlib.steps._excel_options import HiddenRows
from robotlib.steps._excel_row_flags import (
    flagged,
    ods_hidden_rows,
    xlsx_hidden_rows,
)
from robotlib.steps._excel_values import normalise

if TYPE_CHECKING:
    from python_calamine import CalamineSheet, CalamineWorkbook

__all__ = ["HeaderTest", "Rows", "column_letter", "open_sheet"]

Rows = Iterator[tuple[int, Sequence[Any]]]
#: Scores a row as the header: (has every required field, fields matched).
HeaderTest = Callable[[Sequence[Any]], tuple[bool, int]]
#: How many non-empty rows at a sheet's top are searched for its header.
HEADER_ROWS = 20
#: Opens a sheet and returns (sheet title, rows).
Opened = tuple[str, Rows]

_T = TypeVar("_T")

_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"

_DAMAGED_MESSAGE = (
    "the workbook is damaged or incomplete (was it copied while still being "
    "written?); open it in Excel and save it again"
)
_NOT_A_WORKBOOK = (
    "this file cannot be read as an Excel workbook (.xlsx): it is damaged, or "
    "another kind of file (.xlsb, .docx, ...); open it in Excel and save it as .xlsx"
)

#: What openpyxl and zipfile raise for a workbook that is not what it claims.
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ParseError,
    KeyError,
    ValueError,
    IndexError,
)


@contextlib.contextmanager
def open_sheet(
    path: Path,
    sheet: str | None,
    *,
    header: HeaderTest | None = None,
    hidden_rows: HiddenRows = "refuse",
) -> Iterator[Opened]:
    """Open a sheet of a zipped workbook (xlsx, xlsm or ods) for reading.

    Args:
        path: the workbook.
        sheet: the sheet's name; None: the visible sheet whose header ``header``
            accepts (see :func:`_chosen_sheet`).
        header: scores a row as the header: (has every required field, fields
            matched).
        hidden_rows: what is done with hidden rows that hold data (see
            :func:`robotlib.steps._excel_row_flags.flagged`).

    Yields:
        The sheet's title and its ``(row number, cells)`` pairs.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(_DAMAGED_MESSAGE, file=path.name) from exc
    with archive:
        try:
            is_ods = archive.read("mimetype").strip() == _ODS_MIMETYPE
        except KeyError:
            is_ods = False
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise InputError(_DAMAGED_MESSAGE, file=path.name) from exc
        if not is_ods and not _has_workbook_xml(archive):
            raise InputError(_NOT_A_WORKBOOK, file=path.name)
        # The sheet's cells stay readable after the workbook is closed.
        with _open_workbook(path) as workbook:
            if sheet is None:
                title = _chosen_sheet(workbook, header, path.name)
            else:
                title = _sheet_title(_worksheet_names(workbook), sheet, path.name)
            data = _calamine_sheet(workbook, title, is_ods, path.name)
        hidden = _hidden_rows(archive, title, is_ods, path.name)
        shown = _padded_cells(archive, title, is_ods, path.name)
    if data is None:
        with _openpyxl_sheet(path, title) as (_, rows):
            rows = padded(rows, shown)
            yield title, flagged(rows, hidden, hidden_rows, file=path.name, sheet=title)
    else:
        rows = padded(_calamine_rows(data, path, title, is_ods), shown)
        yield title, flagged(rows, hidden, hidden_rows, file=path.name, sheet=title)


def _hidden_rows(
    archive: zipfile.ZipFile, title: str, is_ods: bool, file: str
) -> set[int]:
    read = ods_hidden_rows if is_ods else xlsx_hidden_rows
    return _from_xml(read, archive, title, file)


def _padded_cells(
    archive: zipfile.ZipFile, title: str, is_ods: bool, file: str
) -> dict[tuple[int, int], int]:
    read = ods_padded_cells if is_ods else xlsx_padded_cells
    return _from_xml(read, archive, title, file)


def _from_xml(
    read: Callable[[zipfile.ZipFile, str], _T],
    archive: zipfile.ZipFile,
    title: str,
    file: str,
) -> _T:
    """What ``read`` finds in the sheet's XML; damaged XML is an InputError."""
    try:
        return read(archive, title)
    except (*_DAMAGED, OSError) as exc:
        raise InputError(_DAMAGED_MESSAGE, file=file, sheet=title) from exc


def _has_workbook_xml(archive: zipfile.ZipFile) -> bool:
    return any(name.endswith("workbook.xml") for name in archive.NameToInfo)


def _python_calamine() -> Any:
    try:
        import python_calamine
    except ImportError as exc:
        raise ImportError(
            "reading .xlsx and .ods files needs the python-calamine package: "
            "pip install python-calamine"
        ) from exc
    return python_calamine


def _open_workbook(path: Path) -> CalamineWorkbook:
    calamine = _python_calamine()
    try:
        with path.open("rb") as handle:
            # From the content, not the suffix: an .ods named .xlsx reads too.
            workbook: CalamineWorkbook = calamine.CalamineWorkbook.from_filelike(handle)
    except calamine.CalamineError as exc:
        raise InputError(_NOT_A_WORKBOOK, file=path.name) from exc
    return workbook


def _worksheets(workbook: CalamineWorkbook) -> list[tuple[str, bool]]:
    """(name, visible) of each worksheet, in the workbook's order."""
    calamine = _python_calamine()
    worksheet, visible = calamine.SheetTypeEnum.WorkSheet, calamine.SheetVisibleEnum
    return [
        (m.name, m.visible == visible.Visible)
        for m in workbook.sheets_metadata
        if m.typ == worksheet
    ]


def _worksheet_names(workbook: CalamineWorkbook) -> list[str]:
    return [name for name, _ in _worksheets(workbook)]


def _chosen_sheet(
    workbook: CalamineWorkbook, header: HeaderTest | None, file: str
) -> str:
    """The sheet read when the robot names none.

    The first visible worksheet whose first rows hold a header with every
    required field; if none has one, the first visible worksheet (whose missing
    columns the reader then names). A hidden sheet (an old copy, a lookup list)
    is never read unless named. Two visible sheets with the header are refused:
    which one is meant cannot be told.
    """
    visible = [name for name, shown in _worksheets(workbook) if shown]
    if not visible:
        hidden = _worksheet_names(workbook)
        if hidden:
            listed = ", ".join(map(repr, hidden))
            raise InputError(
                f"the workbook has no visible worksheet (hidden: {listed}); show "
                "the sheet to read and save, or the robot may name it (sheet=)",
                file=file,
            )
        raise InputError("the workbook has no worksheets", file=file)
    if header is None or len(visible) == 1:
        return visible[0]
    found = [name for name in visible if _has_header(workbook, name, header)]
    if len(found) > 1:
        listed = " and ".join(map(repr, found[:2]))
        raise InputError(
            f"the sheets {listed} both have the expected columns, so which one to "
            "read cannot be told; delete or rename the other sheet, or the robot "
            "may name the sheet to read (sheet=)",
            file=file,
        )
    return found[0] if found else visible[0]


def _has_header(workbook: CalamineWorkbook, name: str, header: HeaderTest) -> bool:
    """Whether one of the sheet's first non-empty rows has every required field."""
    try:
        data = workbook.get_sheet_by_name(name)
    except _python_calamine().CalamineError:
        return False  # not read here: the chosen sheet's reading says what is wrong
    seen = 0
    for cells in data.iter_rows():
        if not any(cell not in (None, "") for cell in cells):
            continue
        if header(cells)[0]:
            return True
        seen += 1
        if seen == HEADER_ROWS:
            return False
    return False


def _sheet_title(names: list[str], sheet: str | None, file: str) -> str:
    """The sheet asked for (case and spaces aside), or the first worksheet."""
    if sheet is None:
        if not names:
            raise InputError("the workbook has no worksheets", file=file)
        return names[0]
    if sheet in names:
        return sheet
    close = [name for name in names if normalise(name) == normalise(sheet)]
    if len(close) == 1:
        return close[0]
    listed = ", ".join(map(repr, names)) or "none"
    raise InputError(
        f"the workbook has no sheet {sheet!r}; its sheets are: {listed}",
        file=file,
        sheet=sheet,
    )


def _error_cells(path: Path, title: str, is_ods: bool) -> ErrorCells | None:
    try:
        with zipfile.ZipFile(path) as archive:
            if is_ods:
                return ods_error_cells(archive, title)
            return xlsx_error_cells(archive, title)
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ParseError,
        ValueError,
    ) as exc:
        raise InputError(_DAMAGED_MESSAGE, file=path.name, sheet=title) from exc


def _calamine_sheet(
    workbook: CalamineWorkbook, title: str, is_ods: bool, file: str
) -> CalamineSheet | None:
    """The sheet's cells, or None when openpyxl should read an xlsx sheet instead."""
    calamine = _python_calamine()
    try:
        data: CalamineSheet = workbook.get_sheet_by_name(title)
    except calamine.CalamineError as exc:
        if not is_ods:
            return None
        raise InputError(_DAMAGED_MESSAGE, file=file, sheet=title) from exc
    return data


def _calamine_rows(data: CalamineSheet, path: Path, title: str, is_ods: bool) -> Rows:
    start = data.start
    if start is None:
        return iter(())
    return _completed(enumerate(data.iter_rows(), 1), start[1], path, title, is_ods)


def _completed(
    rows: Iterator[tuple[int, list[Any]]],
    skipped: int,
    path: Path,
    title: str,
    is_ods: bool,
) -> Rows:
    """Add the columns before the first one with a value, and the error codes.

    The sheet's XML is searched for error cells at the first row with an empty
    cell (an error cell reads as one), so a sheet without empty cells is never
    searched. If its error cells cannot be located, openpyxl reads the rest.
    """
    padding: list[Any] = [None] * skipped
    errors: ErrorCells | None = None
    for number, values in rows:
        if errors is None and "" in values:
            errors = _error_cells(path, title, is_ods)
            if errors is None:
                yield from _openpyxl_rows_from(path, title, number)
                return
        found = errors.get(number) if errors else None
        if found is None:
            yield number, padding + values if skipped else values
            continue
        cells = padding + values
        cells.extend([None] * (max(found) + 1 - len(cells)))
        for index, code in found.items():
            cells[index] = code
        yield number, cells


def _openpyxl_rows_from(path: Path, title: str, first: int) -> Rows:
    """Rows from ``first`` on, read by openpyxl."""
    with _openpyxl_sheet(path, title) as (_, rows):
        for number, cells in rows:
            if number >= first:
                yield number, cells


# openpyxl ----------------------------------------------------------------------------


def _openpyxl() -> Any:
    try:
        import openpyxl
    except ImportError as exc:
        raise ImportError(
            "reading this .xlsx file needs the openpyxl package: pip install openpyxl"
        ) from exc
    return openpyxl


@contextlib.contextmanager
def _openpyxl_sheet(path: Path, title: str) -> Iterator[Opened]:
    openpyxl = _openpyxl()
    with path.open("rb") as handle:
        try:
            with warnings.catch_warnings():
                # Styles or extensions openpyxl does not support do not matter here.
                warnings.simplefilter("ignore", UserWarning)
                workbook = openpyxl.load_workbook(
                    handle, read_only=True, data_only=True, keep_links=False
                )
        except (
            *_DAMAGED,
            OSError,
            openpyxl.utils.exceptions.InvalidFileException,
        ) as exc:
            raise InputError(_NOT_A_WORKBOOK, file=path.name) from exc
        try:
            worksheet = workbook[title]
            # Exporters often write a wrong <dimension>: read the rows as they are.
            worksheet.reset_dimensions()
            yield title, _openpyxl_rows(worksheet, path.name, title)
        finally:
            workbook.close()


def _openpyxl_rows(worksheet: Any, file: str, title: str) -> Rows:
    number = 0
    try:
        for number, cells in enumerate(worksheet.iter_rows(values_only=True), 1):
            yield number, cells
    except _DAMAGED as exc:
        raise InputError(
            _DAMAGED_MESSAGE, file=file, sheet=title, row=number + 1
        ) from exc


def column_letter(index: int) -> str:
    """Name a column by its 0-based index: ``column B``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return f"column {letters}"
