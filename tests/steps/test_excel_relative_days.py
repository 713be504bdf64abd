"""A date column reads a day said in words, counted from today when it is read."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from robotlib.robot import Row, RowError
from robotlib.steps.excel import read_rows

HOSPITAL = ZoneInfo("Europe/Copenhagen")


class Period(BaseModel):
    Afdeling: str
    Fra: date
    Til: date | None = None


def _today() -> date:
    return datetime.now(HOSPITAL).date()


def test_danish_and_english_days_in_words(tmp_path: Path) -> None:
    """Danish Excel's CSV (cp1252, ';'): "i dag-30", "I GÅR", "today - 7" and dates."""
    path = tmp_path / "perioder.csv"
    with path.open("w", encoding="cp1252", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerows(
            [
                ["Afdeling", "Fra", "Til"],
                ["MED", "i dag-30", "i går"],
                ["KIR", "I GÅR", "i  dag"],
                ["AKM", "today - 7", "yesterday"],
                ["KAR", "24-12-2026", ""],
                ["ORT", "i forgårs", ""],
            ]
        )
    before = _today()
    rows = list(read_rows(path, model=Period))
    today = _today() if _today() == before else before  # read across midnight

    values = [row.values for row in rows if isinstance(row, Row)]
    assert [
        Period(Afdeling="MED", Fra=today - timedelta(30), Til=today - timedelta(1)),
        Period(Afdeling="KIR", Fra=today - timedelta(1), Til=today),
        Period(Afdeling="AKM", Fra=today - timedelta(7), Til=today - timedelta(1)),
        Period(Afdeling="KAR", Fra=date(2026, 12, 24)),
    ] == values
    [refused] = [row for row in rows if isinstance(row, RowError)]
    assert "row 6" in refused.location
    assert "column 'Fra'" in refused.message
    assert "i forgårs" in refused.message
