"""Numbers read by the column's locale, times with an offset, and robot checks that
raise: issue 15, items 1 and 5."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from robotlib.engine import Engine
from robotlib.errors import ConfigurationError
from robotlib.logs import build_redactor, configure_logging
from robotlib.queue import InMemoryBackend
from robotlib.queue.models import ItemState
from robotlib.robot import Robot, Row, RowError
from robotlib.settings import Settings, load_settings
from robotlib.steps.excel import read_rows


class Result(BaseModel):
    sample: str = Field(alias="Prøve")
    value: float = Field(alias="Værdi")


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    """A workbook whose cells are what ``rows`` holds (str: text cells)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    for values in rows:
        sheet.append(values)
    book.save(path)
    return path


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    """A CSV as Danish Excel writes it: Windows-1252, ``;`` between values."""
    with path.open("w", encoding="cp1252", newline="") as file:
        csv.writer(file, delimiter=";").writerows(rows)
    return path


def one(path: Path, model: type[BaseModel] = Result, **options: Any) -> Row | RowError:
    (found,) = read_rows(path, model=model, **options)
    return found


def value_of(found: Row | RowError) -> Any:
    assert isinstance(found, Row), found
    return found.values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7,5", 7.5),
        ("7.5", 7.5),
        ("-0.25", -0.25),
        ("1.234,5", 1234.5),
        ("1234,5", 1234.5),
        ("1 234,5", 1234.5),
        ("1\u00a0234,5", 1234.5),
        ("1\u202f234,5", 1234.5),
        ("1.234.567", 1234567.0),
    ],
)
def test_danish_text_cells(tmp_path: Path, text: str, expected: float) -> None:
    """Danish notation, with or without grouping, and the plain notation."""
    path = write_xlsx(tmp_path / "lab.xlsx", [["Prøve", "Værdi"], ["P1", text]])

    assert value_of(one(path)) == Result.model_validate(
        {"Prøve": "P1", "Værdi": expected}
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1.050",
            "column 'Værdi': value '1.050' reads as 1050 in Danish notation (da) and "
            "as 1.05 with a decimal point; write 1050 or 1,05, or declare the "
            "column's locale",
        ),
        (
            "1.234",
            "column 'Værdi': value '1.234' reads as 1234 in Danish notation (da) and "
            "as 1.234 with a decimal point; write 1234 or 1,234, or declare the "
            "column's locale",
        ),
        (
            "1,234.5",
            "column 'Værdi': value '1,234.5' is English notation for 1234.5, not "
            "Danish notation (da); write 1234,5, or declare the column's locale",
        ),
    ],
)
def test_danish_refusals(tmp_path: Path, text: str, message: str) -> None:
    """A text with two readings, or in English notation, is the row's error."""
    xlsx = write_xlsx(tmp_path / "lab.xlsx", [["Prøve", "Værdi"], ["P1", text]])
    csv_ = write_csv(tmp_path / "lab.csv", [["Prøve", "Værdi"], ["P1", text]])

    assert one(xlsx) == RowError("lab.xlsx, sheet 'Data', row 2", message)
    assert one(csv_) == RowError("lab.csv, row 2", message)


def test_english_locale(tmp_path: Path) -> None:
    """In en_US, ``1,234.5`` and ``1.25`` are read; a Danish ``1,25`` is refused."""
    path = write_csv(
        tmp_path / "lab.csv",
        [["Prøve", "Værdi"], ["P1", "1,234.5"], ["P2", "1.25"], ["P3", "1,25"]],
    )

    rows = list(read_rows(path, model=Result, locale="en_US"))

    assert [value_of(r).value for r in rows[:2]] == [1234.5, 1.25]
    assert rows[2] == RowError(
        "lab.csv, row 4",
        "column 'Værdi': value '1,25' is Danish notation for 1.25, not English "
        "notation (en_US); write 1.25, or declare the column's locale",
    )


def test_a_column_with_its_own_locale(tmp_path: Path) -> None:
    """``column_locales`` reads one column in en_US, the others by the default."""

    class Dosed(Result):
        dose: Decimal = Field(alias="Dosis")

    path = write_xlsx(
        tmp_path / "lab.xlsx",
        [["Prøve", "Værdi", "Dosis"], ["P1", "1,234.5", "1.234,50"]],
    )

    found = value_of(one(path, Dosed, column_locales={"value": "en_US"}))

    assert (found.value, found.dose) == (1234.5, Decimal("1234.50"))


def test_number_cells_stay_exact(tmp_path: Path) -> None:
    """A number cell is its number, whatever the locale: 1.05 is 1.05."""
    path = write_xlsx(tmp_path / "lab.xlsx", [["Prøve", "Værdi"], ["P1", 1.05]])

    assert value_of(one(path)).value == 1.05
    assert value_of(one(path, locale="en_US")).value == 1.05


def test_int_fields(tmp_path: Path) -> None:
    """An int field takes ``1.234.567`` and refuses a fraction."""

    class Count(BaseModel):
        count: int = Field(alias="Antal")

    path = write_csv(tmp_path / "n.csv", [["Antal"], ["1.234.567"], ["7,5"]])

    good, bad = read_rows(path, model=Count)

    assert value_of(good).count == 1234567
    assert isinstance(bad, RowError)
    assert bad.message == (
        "column 'Antal': Input should be a valid integer, got a number with a "
        "fractional part (value '7,5')"
    )


def test_unknown_locale_and_zone(tmp_path: Path) -> None:
    """A locale or time zone Babel or the zone database does not know is named."""
    path = write_csv(tmp_path / "lab.csv", [["Prøve", "Værdi"], ["P1", "7,5"]])

    with pytest.raises(ConfigurationError) as caught:
        list(read_rows(path, model=Result, locale="dk"))
    assert str(caught.value) == (
        "unknown locale 'dk': give a Babel locale such as 'da', 'da_DK' or 'en_US'"
    )
    with pytest.raises(ConfigurationError) as caught:
        list(read_rows(path, model=Result, column_locales={"value": "xx_YY"}))
    assert "unknown locale 'xx_YY'" in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(tmp_path, locale="dk")
    assert "unknown locale 'dk'" in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(tmp_path, time_zone="Europe/Kobenhavn")
    assert "unknown time zone 'Europe/Kobenhavn'" in str(caught.value)


# Time zones ------------------------------------------------------------------------


class Sampled(BaseModel):
    at: datetime = Field(alias="Prøvetidspunkt")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T08:00:00+01:00", datetime(2026, 11, 20, 8, 0)),  # CET
        ("2026-11-20T07:00:00Z", datetime(2026, 11, 20, 8, 0)),
        ("2026-11-20T08:00:00+0100", datetime(2026, 11, 20, 8, 0)),
        ("2026-11-20T12:00:00-05:00", datetime(2026, 11, 20, 18, 0)),
        ("2026-06-20T06:00:00Z", datetime(2026, 6, 20, 8, 0)),  # CEST
        ("2026-06-20T08:00", datetime(2026, 6, 20, 8, 0)),  # naive: as written
    ],
)
def test_offsets_become_copenhagen_time(
    tmp_path: Path, text: str, expected: datetime
) -> None:
    """A time with an offset is Copenhagen wall-clock time in a naive field."""
    path = write_csv(tmp_path / "t.csv", [["Prøvetidspunkt"], [text]])

    assert value_of(one(path, Sampled)).at == expected


def test_aware_fields_stay_aware_and_dates_convert(tmp_path: Path) -> None:
    """An AwareDatetime field keeps the offset; a date field takes the local date."""

    class Both(BaseModel):
        at: AwareDatetime = Field(alias="Tid")
        day: date = Field(alias="Dato")

    path = write_xlsx(
        tmp_path / "t.xlsx",
        [["Tid", "Dato"], ["2026-11-20T08:00:00+01:00", "2026-11-20T23:30:00Z"]],
    )

    found = value_of(one(path, Both))

    assert found.at == datetime(2026, 11, 20, 8, tzinfo=timezone(timedelta(hours=1)))
    assert found.at.utcoffset() == timedelta(hours=1)
    assert found.day == date(2026, 11, 21)


# A robot's check that raises -------------------------------------------------------


class Checked(BaseModel):
    at: datetime = Field(alias="Prøvetidspunkt")
    value: float = Field(alias="Værdi")

    @field_validator("at")
    @classmethod
    def _not_in_the_future(cls, at: datetime) -> datetime:
        if at.year > 2026 and at > datetime(2027, 1, 1, tzinfo=UTC):  # naive vs aware
            raise ValueError("in the future")
        return at


def test_a_check_that_raises_names_the_column(tmp_path: Path) -> None:
    """A TypeError in a validator is that row's error, naming the column; the next
    row loads."""
    path = write_csv(
        tmp_path / "lab.csv",
        [
            ["Prøvetidspunkt", "Værdi"],
            ["2027-02-01T08:00:00+01:00", "7,5"],
            ["2026-11-20T08:00:00+01:00", "8,5"],
        ],
    )

    bad, good = read_rows(path, model=Checked)

    assert bad == RowError(
        "lab.csv, row 2",
        "column 'Prøvetidspunkt': the robot's check of this value failed "
        "(TypeError: can't compare offset-naive and offset-aware datetimes)",
    )
    assert value_of(good).value == 8.5


def test_a_row_check_that_raises_names_the_row(tmp_path: Path) -> None:
    """A model validator's KeyError is the row's error."""

    class Units(BaseModel):
        value: float = Field(alias="Værdi")
        unit: str = Field(alias="Enhed")

        @model_validator(mode="after")
        def _known_unit(self) -> Units:
            {"mmol/L": 1}[self.unit]
            return self

    path = write_csv(
        tmp_path / "lab.csv",
        [["Værdi", "Enhed"], ["7,5", "mg"], ["8,5", "mmol/L"]],
    )

    bad, good = read_rows(path, model=Units)

    assert bad == RowError(
        "lab.csv, row 2", "the robot's check of this row failed (KeyError: 'mg')"
    )
    assert value_of(good).unit == "mmol/L"


class Limit(BaseModel):
    n: int
    limit: float | None = None

    @field_validator("limit")
    @classmethod
    def _under_the_ceiling(cls, limit: float | None) -> float | None:
        if limit is not None and limit > CEILINGS["max"]:  # the table has no "max"
            raise ValueError("over the ceiling")
        return limit


CEILINGS: dict[str, float] = {}


def test_the_engine_makes_a_raising_check_the_rows_exception(tmp_path: Path) -> None:
    """A source giving plain values: a KeyError in a validator is that item's
    business exception naming the column; the other rows are queued and run."""
    settings = Settings(project_dir=tmp_path, cpr_in_logs="hash")
    redactor = build_redactor(settings)
    configure_logging(settings, redactor=redactor, console_level="ERROR")
    backend = InMemoryBackend()
    rows = [{"n": 1, "limit": 5.0}, {"n": 2}]
    robot = Robot(
        name="limits",
        item=Limit,
        source=lambda input_path: rows,
        reference=["n"],
        process=lambda ctx, item: {"ok": item.n},
    )

    Engine(robot, settings=settings, backend=backend, redactor=redactor).run()

    items = {i.reference: i for i in backend.items("limits")}
    assert items["1"].state is ItemState.BUSINESS_EXCEPTION
    assert items["1"].error_message == (
        "row 1: column 'limit': the robot's check of this value failed "
        "(KeyError: 'max')"
    )
    assert items["2"].state is ItemState.DONE
