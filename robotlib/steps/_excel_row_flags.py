"""Finding the rows hidden in a sheet: hidden by hand, or filtered away.

Neither python-calamine nor openpyxl's streaming mode says which rows are hidden,
so the sheet's XML is read for it, as for error cells
(:mod:`robotlib.steps._excel_error_cells`): in xlsx a ``<row r="5" hidden="1">``
(Excel writes a filtered-away row the same way), in ods a ``table:table-row``
with ``table:visibility="collapse"`` (hidden) or ``"filter"`` (filtered away),
repeated by ``table:number-rows-repeated``. A cheap byte search ends the work in
the usual case of no hidden row.

:func:`flagged` then applies the robot's ``hidden_rows`` choice to the rows as
they are read: a hidden row that holds data is refused, skipped or read.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import structlog

from robotlib.errors import InputError
from robotlib.steps._excel_error_cells import (
    contains,
    ods_table_elements,
    opening_tags,
    xlsx_sheet_part,
)
from robotlib.steps._excel_options import HiddenRows

__all__ = ["flagged", "ods_hidden_rows", "xlsx_hidden_rows"]

Rows = Iterator[tuple[int, Sequence[Any]]]

_XLSX_MARKERS = (b'hidden="1"', b"hidden='1'", b'hidden="true"', b"hidden='true'")
_ODS_MARKERS = (b'visibility="collapse"', b'visibility="filter"')
_ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
_ROW_NUMBER = re.compile(rb"\br=[\"']([0-9]+)[\"']")
_HIDDEN = re.compile(rb"\bhidden=[\"'](?:1|true)[\"']")
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
#: How many rows a message names before it says "and N more".
_NAMED = 10

log = structlog.get_logger("robotlib.excel")


def xlsx_hidden_rows(archive: zipfile.ZipFile, sheet: str) -> set[int]:
    """The numbers (from 1) of a worksheet's hidden rows; empty if none or unknown."""
    part = xlsx_sheet_part(archive, sheet)
    if part is None:
        return set()
    with archive.open(part) as stream:
        if not contains(stream, _XLSX_MARKERS):
            return set()
    hidden: set[int] = set()
    number = 0
    with archive.open(part) as stream:
        for match in opening_tags(stream, _ROW):
            found = _ROW_NUMBER.search(match[1])
            number = int(found[1]) if found else number + 1
            if _HIDDEN.search(match[1]):
                hidden.add(number)
    return hidden


def ods_hidden_rows(archive: zipfile.ZipFile, sheet: str) -> set[int]:
    """The numbers (from 1) of the hidden or filtered rows of one ods table."""
    with archive.open("content.xml") as stream:
        if not contains(stream, _ODS_MARKERS):
            return set()
    hidden: set[int] = set()
    number = 0
    with archive.open("content.xml") as stream:
        for element in ods_table_elements(stream, sheet):
            if element.tag != f"{_TABLE}table-row":
                continue
            repeat = int(element.get(f"{_TABLE}number-rows-repeated", "1"))
            if element.get(f"{_TABLE}visibility") in {"collapse", "filter"}:
                # A run of hidden empty rows to the sheet's end is not data.
                hidden.update(range(number + 1, number + 1 + min(repeat, 1000)))
            number += repeat
    return hidden


def flagged(
    rows: Rows, hidden: set[int], policy: HiddenRows, *, file: str, sheet: str
) -> Rows:
    """Apply ``policy`` to the hidden rows that hold data.

    ``"refuse"`` reads ahead to the last hidden row before handing out any row,
    so that no row is read from a sheet that is then refused.
    """
    if not hidden or policy == "include":
        yield from rows
        return
    last = max(hidden)
    if policy == "refuse":
        ahead: list[tuple[int, Sequence[Any]]] = []
        for number, cells in rows:
            ahead.append((number, cells))
            if number >= last:
                break
        found = [n for n, cells in ahead if n in hidden and _has_data(cells)]
        if found:
            raise InputError(
                f"{_rows(found)} hidden (filtered away or hidden in Excel) and would "
                "not be seen by whoever checks the sheet; clear the filter or show "
                "the rows and save the file, or the robot may declare "
                "hidden_rows='skip' or hidden_rows='include'",
                file=file,
                sheet=sheet,
            )
        yield from ahead
        yield from rows
        return
    skipped: list[int] = []
    for number, cells in rows:
        if number in hidden and _has_data(cells):
            skipped.append(number)
            continue
        if skipped and number > last:
            _skipped(skipped, file, sheet)
            skipped = []
        yield number, cells
    if skipped:
        _skipped(skipped, file, sheet)


def _skipped(numbers: list[int], file: str, sheet: str) -> None:
    log.info("input_hidden_rows_skipped", file=file, sheet=sheet, rows=numbers)


def _has_data(cells: Sequence[Any]) -> bool:
    return any(cell is not None and str(cell).strip() for cell in cells)


def _rows(numbers: list[int]) -> str:
    """``row 5 is`` or ``rows 5, 7 and 12 are`` (the first ten named)."""
    if len(numbers) == 1:
        return f"row {numbers[0]} is"
    named = [str(n) for n in numbers[:_NAMED]]
    more = len(numbers) - len(named)
    if more:
        return f"rows {', '.join(named)} and {more} more are"
    return f"rows {', '.join(named[:-1])} and {named[-1]} are"
