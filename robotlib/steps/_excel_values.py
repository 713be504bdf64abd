"""Cell values to model field values: one converter per field type, chosen once.

Spreadsheets hold what people typed: decimal commas, Danish dates as text, numbers
stored as ``12.0``, stray spaces. The readers differ too: python-calamine gives every
number as a float (``7.0``), an empty cell as ``""`` and a date cell at midnight as
a ``date``, where openpyxl gave ``7``, None and a ``datetime``. The converters
accept both, so a row is converted once, only in the columns the model reads.

A converter turns one cell value into what the field's pydantic type expects,
leaves what it does not recognise for pydantic to reject (so the error shows the
real value), and raises :class:`CellError` for what must never reach the model:
Excel formula errors and numbers in date columns.
"""

from __future__ import annotations

import enum
import re
import types
import typing
import unicodedata
from collections.abc import Callable
from contextlib import suppress
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "ERROR_CODES",
    "CellError",
    "Converter",
    "cell_text",
    "converter_for",
    "normalise",
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
    """

    def __init__(self, reason: str, *, formula: str | None = None) -> None:
        self.reason, self.formula = reason, formula
        super().__init__(reason)


_SEPARATORS = re.compile(r"[\s_\-]+")
#: Below this a float holds a whole number exactly.
_EXACT = float(2**53)


def whole(value: float) -> float | int:
    """A float holding a whole number as an int (``7.0`` → ``7``), else the float.

    Example:
        >>> whole(7.0), whole(7.5)
        (7, 7.5)
    """
    if value.is_integer() and -_EXACT < value < _EXACT:
        return int(value)
    return value


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


def converter_for(annotation: Any) -> Converter:
    """Return the converter for a field annotation (``Optional`` and ``Annotated``
    unwrapped)."""
    kind = _unwrap(annotation)
    if typing.get_origin(kind) is typing.Literal:
        literals = typing.get_args(kind)
        if all(isinstance(v, str) for v in literals):
            return _to_str
        if all(isinstance(v, int) and not isinstance(v, bool) for v in literals):
            return _to_int
        return _to_any
    if not isinstance(kind, type):
        return _to_any
    for base, converter in _BY_TYPE:
        if issubclass(kind, base):
            return converter
    return _to_any


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


_DANISH_NUMBER = re.compile(
    r"[+-]?\d{1,3}(?:\.\d{3})+,\d+|[+-]?\d{1,3}(?:\.\d{3}){2,}|[+-]?\d*,\d+"
)
_SPACED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[,.]\d+)?")
_ENGLISH_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+\.\d+")
_SPACES = re.compile(r"\s")


def _number_text(text: str) -> str:
    """Return a number written the Danish (or English) way in Python's syntax.

    ``7,5``, ``1.234,5``, ``1.234.567``, ``1 234,5`` and ``1,234.5`` become ``7.5``,
    ``1234.5``, ``1234567``, ``1234.5`` and ``1234.5``. A lone dot is a decimal
    point (``1.250`` is 1.25, as in an instrument's export), never a thousands
    separator. Anything else comes back unchanged, for pydantic to judge.
    """
    if _DANISH_NUMBER.fullmatch(text):
        return text.replace(".", "").replace(",", ".")
    if _SPACED_NUMBER.fullmatch(text):
        return _SPACES.sub("", text).replace(",", ".")
    if _ENGLISH_NUMBER.fullmatch(text):
        return text.replace(",", "")
    return text


def _to_float(value: Any) -> Any:
    if type(value) is not str:
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        return float(_number_text(text))
    except ValueError:
        return text


def _to_decimal(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        number = whole(value)
        return Decimal(number) if type(number) is int else Decimal(repr(number))
    if kind is not str:
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        return Decimal(_number_text(text))
    except InvalidOperation:
        return text


def _to_int(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is not str:
        return value
    text = _text(value)
    if text is None:
        return None
    number = _number_text(text)
    with suppress(ValueError):
        return int(number)
    try:
        parsed = float(number)
    except ValueError:
        return text
    return int(parsed) if parsed.is_integer() else parsed


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

_DANISH_DATE = re.compile(
    r"(\d{1,2})([-./])(\d{1,2})\2(\d{4})"
    r"(?:(?:\s+(?:kl\.?\s*)?|T)(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?"
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")
_DATE_FORMATS = (
    "dd-mm-yyyy, dd.mm.yyyy, dd/mm/yyyy or yyyy-mm-dd, optionally with a time HH:MM"
)


def _parse_datetime(text: str) -> datetime:
    """Parse a Danish or ISO date, with an optional time, as a datetime."""
    match = _DANISH_DATE.fullmatch(text)
    try:
        if match is not None:
            day, _, month, year, hour, minute, second = match.groups()
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
            )
        if _ISO_DATE.fullmatch(text):
            return datetime.fromisoformat(text)
    except ValueError:
        raise CellError("not a valid date") from None
    raise CellError(f"not a date in a known format ({_DATE_FORMATS})")


def _to_datetime(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        text = _text(value)
        return None if text is None else _parse_datetime(text)
    if kind is date:
        return datetime(value.year, value.month, value.day)
    if kind in (int, float):
        raise CellError("a number, not a date (format the column as a date)")
    return value


def _to_date(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        text = _text(value)
        if text is None:
            return None
        value, kind = _parse_datetime(text), datetime
    if kind is datetime and value.time() == time() and value.tzinfo is None:
        return value.date()
    if kind in (int, float):
        raise CellError("a number, not a date (format the column as a date)")
    return value


#: First match wins: bool before int (a bool is an int), datetime before date.
_BY_TYPE: tuple[tuple[type, Converter], ...] = (
    (bool, _to_bool),
    (enum.Enum, _to_any),
    (str, _to_str),
    (int, _to_int),
    (float, _to_float),
    (Decimal, _to_decimal),
    (datetime, _to_datetime),
    (date, _to_date),
)
