"""Cell values to model field values: one converter per field type, chosen once.

Spreadsheets hold what people typed: decimal commas, Danish dates as text, numbers
stored as ``12.0``, stray spaces. The readers differ too: python-calamine gives every
number as a float (``7.0``), an empty cell as ``""`` and a date cell at midnight as
a ``date``, where openpyxl gave ``7``, None and a ``datetime``. The converters
accept both, so a row is converted once, only in the columns the model reads.

A converter turns one cell value into what the field's pydantic type expects,
leaves what it does not recognise for pydantic to reject (so the error shows the
real value), and raises :class:`CellError` for what must never reach the model:
Excel formula errors, numbers in date columns, and numbers whose meaning is not
certain.

Numbers in text cells are read by the column's locale with Babel
(:func:`parse_number`): the locale's own notation, with or without grouping, and
the plain one programs write (``7.5``); a text reading differently in the two
(``1.050`` in Danish), or written in the other common notation (``1,234.5`` in a
Danish column, ``1,25`` in an English one), is refused with both readings. Number
cells are exact: a float is the number it holds.

Times with an offset (``2026-11-20T08:00:00+01:00``, ``...Z``, ``+0100``, or an
aware datetime) become the wall-clock time in the read's time zone, made naive,
for ``datetime`` fields, and that zone's date for ``date`` fields. Other field
types, pydantic's ``AwareDatetime`` among them, get the value as it is.

A ``date`` field also reads a day said in words, counted from today in the read's
time zone when the sheet is read: ``i dag``, ``i går``, ``i dag-30`` (and
``today``, ``yesterday``, ``today-30``), for a sheet run every day.
"""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import get_date_format
from babel.numbers import (
    NumberFormatError,
    format_decimal,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)

from robotlib.locales import HOSPITAL_TIME_ZONE
from robotlib.validation import whole

__all__ = [
    "ERROR_CODES",
    "NUMERIC_DATE",
    "CellError",
    "Converter",
    "cell_text",
    "converter_for",
    "day_first",
    "is_date_type",
    "normalise",
    "parse_number",
    "relative_day",
    "whole",
]

#: What Excel (or LibreOffice) shows in a cell whose formula failed.
ERROR_CODES = frozenset(
    {
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        # LibreOffice's own codes, in .ods files (Err:502: invalid argument)
        *(f"Err:{number}" for number in range(501, 540)),
    }
)

Converter = Callable[[Any], Any]


class CellError(ValueError):
    """A cell value that cannot become a field value.

    Args:
        reason: what is wrong, for the operator.
        formula: the Excel error code when the cell holds a failed formula.
        about_value: the reason goes on from the value (``value '1.050' reads
            as ...``) rather than being followed by it.
    """

    def __init__(
        self, reason: str, *, formula: str | None = None, about_value: bool = False
    ) -> None:
        self.reason, self.formula, self.about_value = reason, formula, about_value
        super().__init__(reason)


_SEPARATORS = re.compile(r"[\s_\-]+")


def cell_text(value: object) -> str:
    """A cell's value as text for a header or a message: ``7.0`` is ``"7"``."""
    if type(value) is float:
        value = whole(value)
    return str(value).strip()


def normalise(header: object) -> str:
    """Return a header in the form headers are compared in.

    Case, surrounding and repeated whitespace, ``-`` and ``_`` do not matter; Danish
    letters are kept: ``"CPR-nummer"``, ``" cpr  nummer"`` and ``"CPR_NUMMER"`` are
    all ``"cpr nummer"``.

    Example:
        >>> normalise(" Prøve-tidspunkt ")
        'prøve tidspunkt'
    """
    text = unicodedata.normalize("NFC", cell_text(header)).casefold()
    return _SEPARATORS.sub(" ", text).strip()


# Converters ------------------------------------------------------------------------


def converter_for(
    annotation: Any,
    *,
    locale: str = "da",
    time_zone: str = HOSPITAL_TIME_ZONE,
) -> Converter:
    """Return the converter for a field annotation (``Optional`` and ``Annotated``
    unwrapped).

    Args:
        annotation: the field's type.
        locale: the notation of numbers in the column's text cells.
        time_zone: the zone a time with an offset becomes wall-clock time in, for
            a field without one (``datetime`` or ``date``).
    """
    kind = _unwrap(annotation)
    if typing.get_origin(kind) is typing.Literal:
        literals = typing.get_args(kind)
        if all(isinstance(v, str) for v in literals):
            return _to_str
        if all(isinstance(v, int) and not isinstance(v, bool) for v in literals):
            return functools.partial(_to_int, locale=locale)
        return _to_any
    if not isinstance(kind, type):
        return _to_any
    for base, converter in _BY_TYPE:
        if issubclass(kind, base):
            if converter in (_to_int, _to_float, _to_decimal):
                return functools.partial(converter, locale=locale)
            if converter in (_to_datetime, _to_date):
                return functools.partial(
                    converter, zone=ZoneInfo(time_zone), day_first=day_first(locale)
                )
            return converter
    return _to_any


def is_date_type(annotation: Any) -> bool:
    """Whether a field annotation is a date or datetime (``Optional`` unwrapped)."""
    kind = _unwrap(annotation)
    return isinstance(kind, type) and issubclass(kind, date)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _text(value: str) -> str | None:
    """Strip a text cell; an empty one is None, a formula error raises."""
    if value in ERROR_CODES:
        raise CellError(f"formula error {value}", formula=value)
    return value.strip() or None


def _to_any(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is float:
        return whole(value)
    if kind is date:
        return datetime(value.year, value.month, value.day)
    return value


def _to_str(value: Any) -> Any:
    kind = type(value)
    if kind is str:  # _text, inlined: most cells are text
        if value in ERROR_CODES:
            raise CellError(f"formula error {value}", formula=value)
        return value.strip() or None
    if kind is float and value.is_integer():
        return str(int(value))
    if kind is int:
        return str(value)
    if kind is datetime:
        return value.date().isoformat() if value.time() == time() else str(value)
    if kind is date:
        return value.isoformat()
    return value


# Numbers ---------------------------------------------------------------------------

#: The notation programs write whatever the locale: ``7.5``, ``-0.25``, ``1050``.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
#: Spaces that group digits by thousands: space, no-break space, narrow no-break.
_SPACE_GROUPED = re.compile(r"([+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+)(\D.*)?")
_GROUP_SPACES = re.compile(r"[ \u00a0\u202f]")


@dataclass(frozen=True)
class _Notation:
    """A locale's way of writing numbers, looked up once per column."""

    locale: str
    name: str  # "Danish notation (da)"
    characters: re.Pattern[str]  # what a number in it is written with
    other: str  # the locale of the notation it is most often confused with

    @classmethod
    def of(cls, locale: str) -> _Notation:
        found = Locale.parse(locale)
        decimal = get_decimal_symbol(found)
        group = get_group_symbol(found)
        language = found.get_language_name("en") or locale
        return cls(
            locale=locale,
            name=f"{language} notation ({locale})",
            characters=re.compile(f"[+-]?[\\d{re.escape(decimal)}{re.escape(group)}]+"),
            other="en" if decimal == "," else "da",
        )

    def read(self, text: str) -> Decimal | None:
        """The value of ``text`` in this notation, or None if it is not one."""
        if not self.characters.fullmatch(text):
            return None
        try:
            return parse_decimal(text, locale=self.locale, strict=True)
        except NumberFormatError:
            return None

    def write(self, value: Decimal) -> str:
        """``value`` in this notation, without grouping: ``1,05``."""
        return format_decimal(
            value,
            locale=self.locale,
            group_separator=False,
            decimal_quantization=False,
        )


_notation = functools.lru_cache(maxsize=None)(_Notation.of)


def parse_number(text: str, locale: str) -> Decimal | None:
    """Read a number written in ``locale``'s notation or in plain notation.

    The accepted notations are the locale's own (with or without grouping) and the
    plain one programs write (``7.5``, ``-0.25``); digits grouped by spaces
    (``1 234,5``) are read the same way once the spaces are gone. A text that reads
    as two different values in them (``1.050`` in Danish: 1050 or 1.05), or that
    is written in another notation (``1,234.5`` in a Danish column), raises
    :class:`CellError`. A text that is no number at all is None.

    Example:
        >>> parse_number("1.234,5", "da"), parse_number("7.5", "da")
        (Decimal('1234.5'), Decimal('7.5'))
    """
    notation = _notation(locale)
    grouped = _SPACE_GROUPED.fullmatch(text)
    if grouped is not None:
        text = _GROUP_SPACES.sub("", grouped.group(1)) + (grouped.group(2) or "")
    local = notation.read(text)
    plain = Decimal(text) if _PLAIN_NUMBER.fullmatch(text) else None
    if local is not None and plain is not None and local != plain:
        raise CellError(
            f"reads as {_plain(local)} in {notation.name} and as {_plain(plain)} "
            f"with a decimal point; write {notation.write(local)} or "
            f"{notation.write(plain)}, or declare the column's locale",
            about_value=True,
        )
    if local is not None:
        return local
    if plain is not None:
        return plain
    other = _notation(notation.other)
    elsewhere = other.read(text)
    if elsewhere is not None:
        raise CellError(
            f"is {other.name.split(' (')[0]} for {_plain(elsewhere)}, not "
            f"{notation.name}; write {notation.write(elsewhere)}, or declare the "
            "column's locale",
            about_value=True,
        )
    return None


def _plain(value: Decimal) -> str:
    """A value in plain notation for a message: ``1050``, ``1.05`` (not ``1.050``)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number(value: str, locale: str) -> Decimal | str | None:
    """A text cell as a Decimal, or the stripped text when it is no number."""
    text = _text(value)
    if text is None:
        return None
    number = parse_number(text, locale)
    return text if number is None else number


def _to_float(value: Any, locale: str) -> Any:
    if type(value) is not str:
        return value
    number = _number(value, locale)
    return float(number) if type(number) is Decimal else number


def _to_decimal(value: Any, locale: str) -> Any:
    kind = type(value)
    if kind is float:
        number = whole(value)
        return Decimal(number) if type(number) is int else Decimal(repr(number))
    if kind is not str:
        return value
    return _number(value, locale)


def _to_int(value: Any, locale: str) -> Any:
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is not str:
        return value
    number = _number(value, locale)
    if type(number) is not Decimal:
        return number
    # a fraction is left as a float, for pydantic to refuse
    return int(number) if number == number.to_integral_value() else float(number)


_BOOLEANS = {"ja": True, "nej": False, "j": True, "n": False}


def _to_bool(value: Any) -> Any:
    kind = type(value)
    if kind is float and value.is_integer():
        return int(value)
    if kind is not str:
        return value
    text = _text(value)
    if text is None:
        return None
    return _BOOLEANS.get(text.casefold(), text)


# Dates -----------------------------------------------------------------------------

NUMERIC_DATE = re.compile(
    r"(\d{1,2})([-./])(\d{1,2})\2(\d{4})"
    r"(?:(?:\s+(?:kl\.?\s*)?|T)(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?"
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")
_DATE_FORMATS = (
    "dd-mm-yyyy, dd.mm.yyyy, dd/mm/yyyy or yyyy-mm-dd, optionally with a time HH:MM"
)
#: A day said in words, as an operator types it in a sheet that is run every
#: day: "i dag", "i går", "i dag-30" (and "today", "yesterday", "today-30").
_RELATIVE_DAY = re.compile(r"(i dag|i går|today|yesterday)(?:\s*-\s*(\d{1,4}))?")


def relative_day(text: str, zone: ZoneInfo) -> date | None:
    """The day ``text`` says in words, counted from today in ``zone``; or None.

    Example:
        >>> relative_day("i dag-7", ZoneInfo("Europe/Copenhagen"))  # doctest: +SKIP
        datetime.date(2026, 11, 29)
    """
    match = _RELATIVE_DAY.fullmatch(" ".join(text.casefold().split()))
    if match is None:
        return None
    back = int(match[2] or 0) + (match[1] in ("i går", "yesterday"))
    return datetime.now(zone).date() - timedelta(days=back)


def day_first(locale: str) -> bool:
    """Whether the locale writes a numeric date day first (``da``: yes, ``en_US``:
    no), by its short date format in the CLDR data Babel carries."""
    pattern = str(get_date_format("short", locale=locale).pattern)
    return pattern.find("d") < pattern.find("M")


def _parse_datetime(text: str, first_is_day: bool = True) -> datetime:
    """Parse a numeric or ISO date, with an optional time, as a datetime."""
    match = NUMERIC_DATE.fullmatch(text)
    try:
        if match is not None:
            first, _, middle, year, hour, minute, seconds = match.groups()
            day, month = (first, middle) if first_is_day else (middle, first)
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(seconds or 0),
            )
        if _ISO_DATE.fullmatch(text):
            return datetime.fromisoformat(text)
    except ValueError:
        if match is not None:
            _other_order(match, first_is_day)
        raise CellError("not a valid date") from None
    raise CellError(f"not a date in a known format ({_DATE_FORMATS})")


def _other_order(match: re.Match[str], first_is_day: bool) -> None:
    """Raise the message for a date valid only in the other day/month order."""
    first, second = int(match[1]), int(match[3])
    month = second if first_is_day else first
    other = first if first_is_day else second
    if month > 12 >= other:
        order = "month first" if first_is_day else "day first"
        raise CellError(
            f"not a valid date {'day' if first_is_day else 'month'} first (month "
            f"{month}): it is probably written {order}; write it as "
            f"{match[4]}-{other:02}-{month:02} (yyyy-mm-dd)"
        ) from None


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    """An aware datetime as the naive wall-clock time in ``zone``; a naive one as
    it is."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    return value.astimezone(zone).replace(tzinfo=None)


def _to_datetime(value: Any, zone: ZoneInfo, day_first: bool = True) -> Any:
    kind = type(value)
    if kind is str:
        text = _text(value)
        if text is None:
            return None
        return _local(_parse_datetime(text, day_first), zone)
    if kind is datetime:
        return _local(value, zone)
    if kind is date:
        return datetime(value.year, value.month, value.day)
    if kind in (int, float):
        raise CellError("a number, not a date (format the column as a date)")
    return value


def _to_date(value: Any, zone: ZoneInfo, day_first: bool = True) -> Any:
    kind = type(value)
    if kind is str:
        text = _text(value)
        if text is None:
            return None
        if (said := relative_day(text, zone)) is not None:
            return said
        value, kind = _parse_datetime(text, day_first), datetime
    if kind is datetime and value.tzinfo is not None:
        return _local(value, zone).date()
    if kind is datetime and value.time() == time():
        return value.date()
    if kind in (int, float):
        raise CellError("a number, not a date (format the column as a date)")
    return value


#: First match wins: bool before int (a bool is an int), datetime before date.
_BY_TYPE: tuple[tuple[type, Callable[..., Any]], ...] = (
    (bool, _to_bool),
    (enum.Enum, _to_any),
    (str, _to_str),
    (int, _to_int),
    (float, _to_float),
    (Decimal, _to_decimal),
    (datetime, _to_datetime),
    (date, _to_date),
)
