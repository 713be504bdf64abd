"""Write an N-row lab results spreadsheet for the sandbox's seeded patients.

Every row is valid and unique (patient, code, sample time), so each variant of the
benchmark registers exactly N results in a freshly reset sandbox.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from openpyxl import Workbook

from sandbox.catalog import LAB_CODES

HEADERS = ["CPR-nummer", "Analysekode", "Værdi", "Enhed", "Prøvetidspunkt", "Kommentar"]


def write_input(path: Path, *, base_url: str, rows: int) -> Path:
    """Write ``rows`` lab results of the sandbox at ``base_url`` into ``path``."""
    with urllib.request.urlopen(f"{base_url}/api/patients?limit=1000") as answer:
        patients = [patient["cpr"] for patient in json.load(answer)]
    codes = list(LAB_CODES.values())
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Resultater"
    sheet.append(HEADERS)
    start = datetime(2026, 11, 2, 7, 0)
    for number in range(rows):
        lab = codes[number % len(codes)]
        value = round(lab.low + (lab.high - lab.low) * 0.25, 1)
        sheet.append(
            [
                patients[number % len(patients)],
                lab.code,
                value,
                lab.unit,
                start + timedelta(minutes=number),
                "",
            ]
        )
    book.save(path)
    return path
