"""The ward's transfer list for the bed_board robot: robots/inputs/transfers.xlsx.

With the sandbox's default seed (2026) every one of the 96 beds is taken, and the
board has no way to discharge a patient, so no move can succeed on a fresh sandbox:
the rows that would need a free bed end as business exceptions, and the rows that
succeed close tasks of patients already in the bed they name. The comments say what
each row ends as. None of the patients is one the lab_results example uses.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

HEADERS = ["CPR-nummer", "Til afdeling", "Seng", "Opgaver afsluttet"]
ROWS: list[list[object]] = [
    # in ORT-08 already: no move, two of the patient's three tasks are marked done
    ["181211-9731", "ORT", "ORT-08", "Ernæringsscreening, Mobilisering"],
    # in MED-20 already, any bed of MED will do: one task is marked done
    ["271082-4009", "MED", None, "sårpleje"],
    # waiting in KAR; KAR-15 is occupied by another patient: business exception
    ["150217-9523", "KAR", "KAR-15", "Røntgen af thorax"],
    # ORT has beds ORT-01 to ORT-18: unknown bed, business exception
    ["290386-9597", "ORT", "ORT-25", "Røntgen af thorax"],
    # a well-formed CPR number of nobody in the EPJ: business exception
    ["150320-4321", "MED", None, ""],
    # Sårpleje is not an open task of this patient: business exception, and the
    # open Medicingennemgang is not marked done either (the row is checked first)
    ["190913-4157", "ORT", "ORT-13", "Medicingennemgang, Sårpleje"],
    # waiting in ORT, to any bed of KIR: every KIR bed is taken, business exception
    ["290616-9122", "KIR", None, "Mobilisering"],
    # a bed of another department than the one named: rejected when read
    ["180753-9897", "ORT", "KIR-05", ""],
    # the first row again: loaded once
    ["181211-9731", "ORT", "ORT-08", "Ernæringsscreening, Mobilisering"],
]


def write(folder: Path) -> None:
    """Write transfers.xlsx into ``folder``."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Flytninger"
    sheet.append(HEADERS)
    for row in ROWS:
        sheet.append(row)
    for column, width in zip("ABCD", (14, 14, 10, 40), strict=True):
        sheet.column_dimensions[column].width = width
    book.properties.created = book.properties.modified = datetime(2026, 11, 20)
    book.save(folder / "transfers.xlsx")


if __name__ == "__main__":
    write(Path(__file__).resolve().parents[2] / "robots" / "inputs")
