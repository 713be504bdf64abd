"""Day/month order: a text date whose order the rest of its column contradicts.

A Danish file writes numeric dates day first (``11.05.2026`` is 11 May), an
American one month first (``11/19/2026``); the column's locale says which is
expected. A date whose day and month are both 12 or less (``11/05/2026``) reads
either way: in a column where another row *proves* the other order (in a
day-first column, a second number over 12), reading it the locale's way would
silently register 11 May for 5 November. Such a date is refused, naming both
readings and the row that proves the other order; a column without such
evidence is read in the locale's order.

The evidence is gathered from the whole column before its first row is converted,
so a proving row after the ambiguous one counts too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel import Locale

from robotlib.steps._excel_values import NUMERIC_DATE, CellError, Converter

__all__ = ["OtherOrder", "order_checked", "other_order_evidence"]


@dataclass(frozen=True)
class OtherOrder:
    """A row of a column that can only be read in the order its locale does not
    use."""

    row: int
    text: str


def other_order_evidence(
    rows: Iterable[tuple[int, Sequence[Any]]], day_first: Mapping[int, bool]
) -> dict[int, OtherOrder]:
    """For each column index, the first row whose text date proves the other order
    than its locale's (``day_first``: column index → the locale writes day first).
    """
    found: dict[int, OtherOrder] = {}
    for number, cells in rows:
        for index, first_is_day in day_first.items():
            if index in found or index >= len(cells):
                continue
            value = cells[index]
            if type(value) is not str:
                continue
            text = value.strip()
            match = NUMERIC_DATE.fullmatch(text)
            if match is None:
                continue
            first, second = int(match.group(1)), int(match.group(3))
            month, other = (second, first) if first_is_day else (first, second)
            if other <= 12 < month <= 31:
                found[index] = OtherOrder(number, text[: match.end(4)])
    return found


def order_checked(
    convert: Converter, evidence: OtherOrder, *, day_first: bool, locale: str
) -> Converter:
    """``convert``, refusing dates that read two ways in a column whose rows
    prove the other order."""

    def checked(value: Any) -> Any:
        if type(value) is str:
            match = NUMERIC_DATE.fullmatch(value.strip())
            if match is not None:
                _check(match, evidence, day_first, locale)
        return convert(value)

    return checked


def _check(
    match: re.Match[str], evidence: OtherOrder, day_first: bool, locale: str
) -> None:
    first, second, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
    if first == second or first > 12 or second > 12:
        return
    try:
        as_day_first, as_month_first = (
            date(year, second, first),
            date(year, first, second),
        )
    except ValueError:
        return
    ours, theirs = ("day", "month") if day_first else ("month", "day")
    read, other = (
        (as_day_first, as_month_first) if day_first else (as_month_first, as_day_first)
    )
    raise CellError(
        f"reads as {_spelled(read)} {ours} first ({_language(locale)} order) and as "
        f"{_spelled(other)} {theirs} first, the order row {evidence.row} of this "
        f"column proves ({evidence.text!r}); write it as "
        f"{other.isoformat()} (or {read.isoformat()}) to say which",
        about_value=True,
    )


_MONTHS = (
    "January February March April May June July August September October "
    "November December"
).split()


def _language(locale: str) -> str:
    """``Danish`` for ``da``, ``English (United States)`` for ``en_US``."""
    name = Locale.parse(locale).english_name
    return name if name else locale


def _spelled(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
