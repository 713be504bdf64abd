"""Day/month order: a text date whose order the rest of its column contradicts.

Danish files write dates day first (``11.05.2026`` is 11 May). A file exported by
an American program writes them month first (``11/19/2026``). A date whose day and
month are both 12 or less (``11/05/2026``) reads either way: in a column where
another row *proves* month-first order (its second number is over 12), reading it
day-first would silently register 11 May for 5 November. Such a date is refused,
naming both readings and the row that proves the other order; a column without
such evidence is read day-first, as the locale says.

The evidence is gathered from the whole column before its first row is converted,
so a proving row after the ambiguous one counts too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from robotlib.steps._excel_values import CellError, Converter

__all__ = ["MonthFirst", "month_first_evidence", "order_checked"]

_NUMERIC_DATE = re.compile(r"\s*(\d{1,2})([-./])(\d{1,2})\2(\d{4})(?!\d)")


@dataclass(frozen=True)
class MonthFirst:
    """A row of a column that can only be read month first."""

    row: int
    text: str


def month_first_evidence(
    rows: Iterable[tuple[int, Sequence[Any]]], indexes: Sequence[int]
) -> dict[int, MonthFirst]:
    """For each column index, the first row whose text date is month-first only."""
    found: dict[int, MonthFirst] = {}
    for number, cells in rows:
        for index in indexes:
            if index in found or index >= len(cells):
                continue
            value = cells[index]
            if type(value) is not str:
                continue
            match = _NUMERIC_DATE.match(value)
            if match is None:
                continue
            first, second = int(match.group(1)), int(match.group(3))
            if first <= 12 < second <= 31:
                found[index] = MonthFirst(number, match.group(0).strip())
    return found


def order_checked(convert: Converter, evidence: MonthFirst) -> Converter:
    """``convert``, refusing dates that read two ways in a month-first column."""

    def checked(value: Any) -> Any:
        if type(value) is str:
            match = _NUMERIC_DATE.match(value)
            if match is not None:
                _check(match, evidence)
        return convert(value)

    return checked


def _check(match: re.Match[str], evidence: MonthFirst) -> None:
    first, second, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
    if first == second or first > 12 or second > 12:
        return
    try:
        day_first, month_first = date(year, second, first), date(year, first, second)
    except ValueError:
        return
    raise CellError(
        f"reads as {_spelled(day_first)} day first (Danish order) and as "
        f"{_spelled(month_first)} month first, the order row {evidence.row} of this "
        f"column proves ({evidence.text!r}); write it as "
        f"{month_first.isoformat()} (or {day_first.isoformat()}) to say which",
        about_value=True,
    )


_MONTHS = (
    "January February March April May June July August September October "
    "November December"
).split()


def _spelled(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
