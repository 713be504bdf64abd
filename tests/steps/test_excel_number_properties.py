"""Property: a number read back in the locale it was written in is exactly that
number, or its row is refused; never a different value (issue 15, item 1).

Decimals are written by Babel's ``format_decimal`` for da_DK and en_US, with and
without grouping, into xlsx text cells, xlsx number cells and a CSV (Windows-1252,
``;``), and read into a Decimal field and a float field.

The example budget is a profile chosen by the environment variable
``RPA_TEST_HYPOTHESIS_PROFILE``, as in tests/queue/test_queue_properties.py: ``ci``
(the default) a few dozen derandomized examples, ``soak`` many more random ones.
"""

from __future__ import annotations

import csv
import os
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

import openpyxl
from babel.numbers import format_decimal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from robotlib.robot import Row, RowError
from robotlib.steps.excel import read_rows

#: max_examples per profile.
BUDGETS = {"ci": 40, "soak": 2000}
PROFILE = os.environ.get("RPA_TEST_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in BUDGETS:
    raise ValueError(
        f"RPA_TEST_HYPOTHESIS_PROFILE={PROFILE!r}: expected one of {sorted(BUDGETS)}"
    )
BUDGET = settings(
    max_examples=BUDGETS[PROFILE],
    deadline=None,
    derandomize=PROFILE == "ci",
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


class Measured(BaseModel):
    exact: Decimal = Field(alias="Præcis")
    value: float = Field(alias="Værdi")


HEADERS = ["Præcis", "Værdi"]

#: Values a lab export holds: up to 12 digits, up to 4 after the point.
DECIMALS = st.decimals(
    min_value=Decimal("-99999999.9999"),
    max_value=Decimal("99999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


def _check(rows: list[Row | RowError], expected: list[Decimal]) -> None:
    assert len(rows) == len(expected)
    for found, value in zip(rows, expected, strict=True):
        if isinstance(found, RowError):
            continue  # refused: allowed
        assert isinstance(found.values, Measured)
        assert found.values.exact == value, (found, value)
        assert found.values.value == float(value), (found, value)


@BUDGET
@given(
    values=st.lists(DECIMALS, min_size=1, max_size=5),
    locale=st.sampled_from(["da_DK", "en_US"]),
    grouped=st.booleans(),
)
def test_a_number_reads_back_as_written_or_is_refused(
    values: list[Decimal], locale: str, grouped: bool
) -> None:
    texts = [
        format_decimal(
            v, locale=locale, group_separator=grouped, decimal_quantization=False
        )
        for v in values
    ]
    with TemporaryDirectory() as folder:
        base = Path(folder)
        text_book, number_book = openpyxl.Workbook(), openpyxl.Workbook()
        text_sheet, number_sheet = text_book.active, number_book.active
        assert text_sheet is not None and number_sheet is not None
        text_sheet.append(HEADERS)
        number_sheet.append(HEADERS)
        for text, value in zip(texts, values, strict=True):
            text_sheet.append([text, text])
            number_sheet.append([float(value), float(value)])
        text_book.save(base / "text.xlsx")
        number_book.save(base / "number.xlsx")
        with (base / "lab.csv").open("w", encoding="cp1252", newline="") as file:
            writer = csv.writer(file, delimiter=";")
            writer.writerow(HEADERS)
            writer.writerows([text, text] for text in texts)

        for name in ("text.xlsx", "lab.csv"):
            _check(list(read_rows(base / name, model=Measured, locale=locale)), values)
        numbers = list(read_rows(base / "number.xlsx", model=Measured, locale=locale))
        assert all(isinstance(r, Row) for r in numbers), numbers
        _check(numbers, values)
