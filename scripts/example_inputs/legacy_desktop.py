"""Write robots/inputs/legacy_lab.xlsx: lab results for the legacy lab client.

One row per result ("CPR-nummer", "Analysekode", "Værdi", "Enhed"), values as a
Danish laboratory types them: numbers, or text with a decimal comma. The patients
are of the sandbox's default seed (2026), none of them in the other robots' inputs;
some rows are meant to end as business exceptions, as the comments say.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

FILE_NAME = "legacy_lab.xlsx"
HEADERS = ["CPR-nummer", "Analysekode", "Værdi", "Enhed"]
ROWS: list[list[object]] = [
    ["010473-9321", "NPU02319", 8.4, "mmol/L"],
    ["020237-4149", "NPU02593", "6,1", "10^9/L"],
    ["040362-9038", "NPU18016", 87, "µmol/L"],
    ["050814-4621", "NPU19748", "12,5", "mg/L"],
    # a test code the legacy client does not know: it refuses the result
    ["061244-9698", "NPU99999", "5,0", "mmol/L"],
    # not a number: the legacy client refuses the result
    ["080652-4384", "NPU02319", "hæmolyseret", "mmol/L"],
    # not a CPR number (no such date): rejected when the file is read
    ["310299-1234", "NPU02319", "7,2", "mmol/L"],
    # the same row twice: loaded once
    ["010473-9321", "NPU02319", 8.4, "mmol/L"],
]


def write(folder: Path) -> None:
    """Write the spreadsheet to ``folder``/legacy_lab.xlsx."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Resultater"
    sheet.append(HEADERS)
    for row in ROWS:
        sheet.append(row)
    book.properties.created = book.properties.modified = datetime(2026, 11, 20)
    book.save(folder / FILE_NAME)
