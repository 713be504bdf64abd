"""How Python values become Excel cells: types, number formats, widths, titles.

Excel holds no timezone-aware datetimes, no NaN, no control characters and at most
32,767 characters of text; sheet titles have rules of their own. These helpers
turn any value into one Excel can hold and pick its Danish number format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from robotlib.settings import DISPLAY_TZ

__all__ = [
    "DATETIME_FORMAT",
    "DATE_FORMAT",
    "FLOAT_FORMAT",
    "INT_FORMAT",
    "TIME_FORMAT",
    "cell_value",
    "local_time",
    "number_format",
    "sheet_title",
    "shown_width",
]

INT_FORMAT, FLOAT_FORMAT = "0", "0.00"
DATE_FORMAT, DATETIME_FORMAT, TIME_FORMAT = "dd-mm-yyyy", "dd-mm-yyyy hh:mm", "hh:mm"

_MAX_TEXT = 32_767
_MAX_TITLE = 31
_ILLEGAL_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")


def cell_value(value: Any) -> Any:
    """Return a value Excel can hold.

    Aware datetimes become naive Copenhagen time, enums their value, timedeltas
    seconds, NaN and infinities text, sequences comma-joined text and anything else
    its text, without control characters and cut to Excel's limit.

    Example:
        >>> cell_value(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
        datetime.datetime(2026, 7, 1, 12, 0)
    """
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool | int | Decimal | date | time):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return local_time(value)
        if isinstance(value, time) and value.tzinfo is not None:
            return value.replace(tzinfo=None)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple | set | frozenset):
        value = ", ".join(map(str, value))
    text = _ILLEGAL_TEXT.sub("", value if isinstance(value, str) else str(value))
    return text[:_MAX_TEXT]


def number_format(values: Iterable[Any]) -> str | None:
    """Return the number format for a column of (converted) values, if any.

    Example:
        >>> number_format([1, 2.5, None])
        '0.00'
    """
    kinds = {type(value) for value in values if value is not None}
    if datetime in kinds:
        return DATETIME_FORMAT
    if date in kinds:
        return DATE_FORMAT
    if time in kinds:
        return TIME_FORMAT
    if float in kinds or Decimal in kinds:
        return FLOAT_FORMAT
    return INT_FORMAT if int in kinds else None


def shown_width(value: Any, fmt: str | None) -> int:
    """Return about how many characters wide a value shows, plus a margin."""
    if value is None:
        return 0
    if isinstance(value, date | time) and fmt:
        return len(fmt) + 2
    if isinstance(value, float) and fmt == FLOAT_FORMAT:
        return len(f"{value:.2f}") + 2
    return max(len(line) for line in str(value).splitlines() or [""]) + 2


def local_time(moment: datetime | None) -> datetime | None:
    """Return a stored UTC time as naive display-time-zone wall-clock time (naive =
    UTC); :data:`robotlib.settings.DISPLAY_TZ` is Copenhagen.

    Example:
        >>> local_time(datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
        datetime.datetime(2026, 1, 6, 0, 30)
    """
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(DISPLAY_TZ).replace(tzinfo=None)


def sheet_title(title: str, taken: Iterable[str]) -> str:
    """Return ``title`` made a valid sheet title, unique among ``taken``.

    Excel's rules: 1-31 characters, none of ``[]:*?/\\``, not starting or ending
    with an apostrophe, unique ignoring case. A clash gets `` (2)``, `` (3)``, ...

    Example:
        >>> sheet_title("Lab: 24/12 [EPJ]", taken=["Summary"])
        'Lab_ 24_12 _EPJ_'
    """
    clean = _BAD_TITLE.sub("_", _ILLEGAL_TEXT.sub("", title)).strip("'") or "Sheet"
    used = {name.casefold() for name in taken}
    candidate, number = clean[:_MAX_TITLE], 1
    while candidate.casefold() in used:
        number += 1
        suffix = f" ({number})"
        candidate = clean[: _MAX_TITLE - len(suffix)] + suffix
    return candidate
