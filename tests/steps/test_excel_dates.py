"""Day/month order: a date that reads two ways in a column proven month-first."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from robotlib import Row, RowError
from robotlib.steps.excel import read_rows


class Sample(BaseModel):
    code: str
    at: datetime


def _csv(tmp_path: Path, *dates: str) -> Path:
    path = tmp_path / "dates.csv"
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(["code", "at"])
        for number, text in enumerate(dates):
            writer.writerow([f"C{number}", text])
    return path


def test_a_column_without_evidence_is_read_day_first(tmp_path: Path) -> None:
    rows = list(read_rows(_csv(tmp_path, "11/05/2026", "24/12/2026"), model=Sample))
    assert [r.values.at for r in rows if isinstance(r, Row)] == [
        datetime(2026, 5, 11),
        datetime(2026, 12, 24),
    ]


def test_evidence_after_the_ambiguous_row_counts(tmp_path: Path) -> None:
    rows = list(read_rows(_csv(tmp_path, "03/04/2026", "12/31/2026"), model=Sample))
    assert isinstance(rows[0], RowError)
    assert rows[0].message == (
        "column 'at': value '03/04/2026' reads as 3 April 2026 day first (Danish "
        "order) and as 4 March 2026 month first, the order row 3 of this column "
        "proves ('12/31/2026'); write it as 2026-03-04 (or 2026-04-03) to say which"
    )
    assert isinstance(rows[1], RowError)
    assert "probably written month first" in rows[1].message


def test_a_date_reading_the_same_both_ways_loads(tmp_path: Path) -> None:
    rows = list(read_rows(_csv(tmp_path, "05/05/2026", "12/31/2026"), model=Sample))
    assert isinstance(rows[0], Row)
    assert rows[0].values.at == datetime(2026, 5, 5)


def test_a_month_first_locale_reads_month_first_and_refuses_against_evidence(
    tmp_path: Path,
) -> None:
    path = _csv(tmp_path, "11/05/2026", "03/04/2026", "24/12/2026")
    rows = list(read_rows(path, model=Sample, locale="en_US"))
    assert isinstance(rows[0], RowError)
    assert rows[0].message == (
        "column 'at': value '11/05/2026' reads as 5 November 2026 month first "
        "(English (United States) order) and as 11 May 2026 day first, the order "
        "row 4 of this column proves ('24/12/2026'); write it as 2026-05-11 (or "
        "2026-11-05) to say which"
    )
    assert isinstance(rows[2], RowError)
    assert rows[2].message == (
        "column 'at': not a valid date month first (month 24): it is probably "
        "written day first; write it as 2026-12-24 (yyyy-mm-dd) (value '24/12/2026')"
    )
    plain = list(read_rows(_csv(tmp_path, "11/05/2026"), model=Sample, locale="en_US"))
    assert isinstance(plain[0], Row)
    assert plain[0].values.at == datetime(2026, 11, 5)
