"""Number cells shown with leading zeros: read as the digits the user sees.

A CPR number (or any code) typed into a number cell loses its leading zero
(``0909689473`` is stored as 909689473), but a cell whose number format pads
with zeros (``0000000000``, Excel's "Special" formats, or a custom one) still
*shows* the ten digits: the person checking the sheet sees the right number. Such
a cell is read as the text it shows (``"0909689473"``), so a text field gets what
the user saw; a number field parses that text to the same number.

Neither python-calamine nor openpyxl's streaming mode gives a cell's format, so
the workbook's styles are read for the cell styles whose format is zeros only
(xlsx: a ``numFmt`` of zeros; ods: a number style with ``min-integer-digits`` and
no decimals), and, when there is one, the sheet's XML for the number cells in
those styles (an ods cell's style is its own, else its column's default).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any
from xml.etree import ElementTree

from robotlib.steps._excel_error_cells import (
    ods_table_elements,
    opening_tags,
    xlsx_sheet_part,
)

__all__ = ["ods_padded_cells", "padded", "xlsx_padded_cells"]

Rows = Iterator[tuple[int, Sequence[Any]]]

_ZEROS = re.compile(r"0{2,}")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*)>")
_REF = re.compile(rb"\br=[\"']([A-Z]+)([0-9]+)[\"']")
_STYLE = re.compile(rb"\bs=[\"']([0-9]+)[\"']")
_TYPE = re.compile(rb"\bt=[\"']([a-z]+)[\"']")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _padded_styles(archive: zipfile.ZipFile) -> dict[int, int]:
    """Cell style index → digits shown, for styles whose format is zeros only."""
    member = next(
        (name for name in archive.NameToInfo if name.endswith("styles.xml")), None
    )
    if member is None:
        return {}
    try:
        root = ElementTree.fromstring(archive.read(member))
    except ElementTree.ParseError:
        return {}
    widths: dict[str, int] = {}
    for element in root.iter():
        if _local(element.tag) == "numFmt":
            code = (element.get("formatCode") or "").split(";")[0].strip()
            if _ZEROS.fullmatch(code):
                widths[element.get("numFmtId", "")] = len(code)
    if not widths:
        return {}
    styles: dict[int, int] = {}
    for element in root.iter():
        if _local(element.tag) != "cellXfs":
            continue
        for index, xf in enumerate(e for e in element if _local(e.tag) == "xf"):
            width = widths.get(xf.get("numFmtId", ""))
            if width is not None:
                styles[index] = width
    return styles


def xlsx_padded_cells(
    archive: zipfile.ZipFile, sheet: str
) -> dict[tuple[int, int], int]:
    """(row from 1, column from 0) → digits shown, for the sheet's padded cells."""
    styles = _padded_styles(archive)
    if not styles:
        return {}
    part = xlsx_sheet_part(archive, sheet)
    if part is None:
        return {}
    found: dict[tuple[int, int], int] = {}
    with archive.open(part) as stream:
        for match in opening_tags(stream, _CELL):
            attributes = match[1]
            style, ref = _STYLE.search(attributes), _REF.search(attributes)
            if style is None or ref is None:
                continue
            width = styles.get(int(style[1]))
            kind = _TYPE.search(attributes)
            if width is None or (kind is not None and kind[1] != b"n"):
                continue
            found[(int(ref[2]), _column(ref[1]))] = width
    return found


def _column(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + letter - 64
    return index - 1


def padded(rows: Rows, cells: dict[tuple[int, int], int]) -> Rows:
    """The rows, with each padded number cell as the digits it shows."""
    if not cells:
        yield from rows
        return
    for number, values in rows:
        changed: list[Any] | None = None
        for column in range(len(values)):
            width = cells.get((number, column))
            if width is None:
                continue
            value = values[column]
            if type(value) in (int, float) and value >= 0 and float(value).is_integer():
                changed = changed if changed is not None else list(values)
                changed[column] = str(int(value)).zfill(width)
        yield number, values if changed is None else changed


# ods --------------------------------------------------------------------------------

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_STYLE_NS = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_NUMBER = "{urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
#: More repeated columns or rows than this are the sheet's empty rest.
_REPEAT_LIMIT = 1000


def _ods_padded_styles(archive: zipfile.ZipFile) -> dict[str, int]:
    """Cell style name → digits shown, for styles whose number format pads."""
    data_styles: dict[str, int] = {}
    cell_styles: dict[str, str] = {}
    for member in ("styles.xml", "content.xml"):
        try:
            root = ElementTree.fromstring(archive.read(member))
        except (KeyError, ElementTree.ParseError):
            continue
        for element in root.iter(f"{_NUMBER}number-style"):
            number = element.find(f"{_NUMBER}number")
            if number is None or int(number.get(f"{_NUMBER}decimal-places", "0")):
                continue
            digits = int(number.get(f"{_NUMBER}min-integer-digits", "1"))
            if digits >= 2:
                data_styles[element.get(f"{_STYLE_NS}name", "")] = digits
        for element in root.iter(f"{_STYLE_NS}style"):
            data = element.get(f"{_STYLE_NS}data-style-name")
            if data is not None:
                cell_styles[element.get(f"{_STYLE_NS}name", "")] = data
    return {
        name: data_styles[data]
        for name, data in cell_styles.items()
        if data in data_styles
    }


def ods_padded_cells(
    archive: zipfile.ZipFile, sheet: str
) -> dict[tuple[int, int], int]:
    """(row from 1, column from 0) → digits shown, for one table's padded cells.

    A cell's style is its own ``table:style-name``, else its column's
    ``table:default-cell-style-name``.
    """
    styles = _ods_padded_styles(archive)
    if not styles:
        return {}
    found: dict[tuple[int, int], int] = {}
    column_styles: list[str | None] = []
    row = 0
    with archive.open("content.xml") as stream:
        for element in ods_table_elements(stream, sheet):
            if element.tag == f"{_TABLE}table-column":
                repeat = int(element.get(f"{_TABLE}number-columns-repeated", "1"))
                style = element.get(f"{_TABLE}default-cell-style-name")
                column_styles.extend([style] * min(repeat, _REPEAT_LIMIT))
            else:
                repeat = int(element.get(f"{_TABLE}number-rows-repeated", "1"))
                _row_cells(element, row + 1, column_styles, styles, found)
                row += repeat
    return found


def _row_cells(
    element: ElementTree.Element,
    row: int,
    column_styles: list[str | None],
    styles: dict[str, int],
    found: dict[tuple[int, int], int],
) -> None:
    column = 0
    for cell in element:
        repeat = int(cell.get(f"{_TABLE}number-columns-repeated", "1"))
        if cell.get(f"{_OFFICE}value-type") == "float":
            for at in range(column, column + min(repeat, _REPEAT_LIMIT)):
                style = cell.get(f"{_TABLE}style-name") or (
                    column_styles[at] if at < len(column_styles) else None
                )
                width = styles.get(style or "")
                if width is not None:
                    found[(row, at)] = width
        column += repeat
