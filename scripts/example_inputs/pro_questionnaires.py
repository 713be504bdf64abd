"""Write robots/inputs/pro_answers.csv: the PRO system's export of answers.

A Danish export as Excel writes it: ``;`` separated, UTF-8 with a BOM, CRLF line
ends, dates as dd-mm-yyyy, and "Svar 1".."Svar 6" left blank beyond the
questionnaire's last question. The patients are of the sandbox's default seed
(2026), none of them in lab_results' input; some rows are meant to end as business
exceptions, as the comments say.
"""

from __future__ import annotations

import csv
from pathlib import Path

FILE_NAME = "pro_answers.csv"
HEADERS = ["CPR-nummer", "Skema", "Besvarelsesdato"]
HEADERS += [f"Svar {n}" for n in range(1, 7)]
ROWS: list[list[str]] = [
    ["030933-1661", "PRO-SMERTE", "19-11-2026", "1", "2", "3", "0", "4", ""],
    ["131278-4545", "PRO-FUNKTION", "20-11-2026", "0", "1", "2", "2", "3", "4"],
    ["060561-4475", "PRO-TRIVSEL", "20-11-2026", "2", "2", "1", "3", "0", ""],
    ["290616-9122", "PRO-SMERTE", "18-11-2026", "4", "4", "3", "2", "1", ""],
    # no such patient in the EPJ: business exception
    ["010101-0000", "PRO-SMERTE", "20-11-2026", "1", "1", "1", "1", "1", ""],
    # question 3 not answered: the EPJ refuses it
    ["181130-0899", "PRO-SMERTE", "20-11-2026", "1", "2", "", "3", "1", ""],
    # a questionnaire the EPJ does not have: business exception
    ["240293-0360", "PRO-SOEVN", "20-11-2026", "1", "2", "3", "1", "0", ""],
    # six answers to a questionnaire of five questions: business exception
    ["260477-0977", "PRO-TRIVSEL", "20-11-2026", "1", "2", "3", "1", "0", "2"],
    # an answer outside 0-4: rejected when the file is read
    ["290480-9769", "PRO-SMERTE", "20-11-2026", "1", "7", "3", "1", "0", ""],
    # the same row twice: loaded once
    ["030933-1661", "PRO-SMERTE", "19-11-2026", "1", "2", "3", "0", "4", ""],
]


def write(folder: Path) -> None:
    """Write the export to ``folder``/pro_answers.csv."""
    with (folder / FILE_NAME).open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADERS)
        writer.writerows(ROWS)
