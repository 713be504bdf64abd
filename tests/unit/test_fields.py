"""Tests of robotlib.fields: the field types item models share."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from robotlib.fields import Code, CommaList, DecimalText, NotFuture
from robotlib.reading import Reading, reading


class Row(BaseModel):
    department: Code = Field(pattern=r"^[A-ZÆØÅ]{2,5}$")
    tasks: CommaList = Field(default_factory=list)
    day: Annotated[date, NotFuture] | None = None
    at: Annotated[datetime, NotFuture] | None = None
    value: DecimalText = ""


def test_code_is_stripped_and_upper_cased_before_its_pattern() -> None:
    """ " ort " passes ^[A-Z]+$ as "ORT"; "ø-1" still fails the pattern."""
    assert "ORT" == Row(department=" ort ").department
    assert "KÆR" == Row(department="kær").department
    with pytest.raises(ValidationError, match="pattern"):
        Row(department="ø-1")


def test_comma_list_splits_a_cell_and_keeps_a_list() -> None:
    """Parts trimmed, inner spaces single, empty parts dropped; a list passes as is."""
    row = Row(department="ORT", tasks=" Blodprøve ,  Røntgen   af knæ,, ")
    assert ["Blodprøve", "Røntgen af knæ"] == row.tasks
    assert ["a, b"] == Row(department="ORT", tasks=["a, b"]).tasks
    assert [] == Row(department="ORT", tasks="").tasks


@given(st.lists(st.text(alphabet="abc æø", min_size=1).filter(str.strip), max_size=5))
def test_comma_list_round_trips_joined_parts(parts: list[str]) -> None:
    """Joining normalised parts with commas and splitting gives them back."""
    normal = [" ".join(part.split()) for part in parts]
    assert normal == Row(department="ORT", tasks=", ".join(normal)).tasks


def test_not_future_allows_today_and_refuses_tomorrow_in_the_project_zone() -> None:
    """Today (in the reading's zone) passes, tomorrow fails; a datetime likewise."""
    for zone in ("Europe/Copenhagen", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        with reading(Reading(time_zone=zone)):
            now = datetime.now(ZoneInfo(zone))
            assert now.date() == Row(department="ORT", day=now.date()).day
            with pytest.raises(ValidationError, match="is in the future"):
                Row(department="ORT", day=now.date() + timedelta(days=1))
            naive = now.replace(tzinfo=None) - timedelta(minutes=1)
            assert naive == Row(department="ORT", at=naive).at
            with pytest.raises(ValidationError, match="is in the future"):
                Row(department="ORT", at=naive + timedelta(hours=1))
            with pytest.raises(ValidationError, match="is in the future"):
                Row(department="ORT", at=now + timedelta(hours=1))


def test_decimal_text_writes_a_number_cell_with_a_decimal_comma() -> None:
    """8.4 is "8,4", 2.0 is "2", 1e-05 is "0,00001"; a text cell stays as written."""
    shown = [
        Row(department="ORT", value=v).value for v in (8.4, 2.0, 1e-05, 120, "<0,5")
    ]
    assert ["8,4", "2", "0,00001", "120", "<0,5"] == shown


@given(st.floats(allow_nan=False, allow_infinity=False, width=32) | st.integers())
def test_decimal_text_reads_back_as_the_same_number(number: float) -> None:
    """The text, read with its comma as a point, is the cell's number exactly."""
    text = Row(department="ORT", value=number).value
    assert "e" not in text.lower()
    assert float(number) == float(text.replace(",", "."))
