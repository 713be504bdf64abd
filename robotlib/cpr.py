"""Danish CPR numbers: parsing, birth dates and masking.

A CPR number is ``DDMMYY-SSSS``: the birth date plus a four-digit serial whose first
digit, together with the two-digit year, gives the century. The modulus-11 check is
not guaranteed for numbers issued since 2007, so it is never used to reject a number.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = [
    "CPR_PATTERN",
    "Cpr",
    "birth_date",
    "format_cpr",
    "is_well_formed",
    "mask_cpr",
    "mask_cpr_like",
    "mask_mistyped",
]

#: Matches a CPR number with or without the dash, not inside a longer number.
CPR_PATTERN = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{2})-?(\d{4})(?!\d)")


def _century(year2: int, serial_digit: int) -> int:
    """Return the century (1800, 1900 or 2000) of a birth year from the serial digit."""
    if serial_digit <= 3:
        return 1900
    if serial_digit in (4, 9):
        return 2000 if year2 <= 36 else 1900
    # serial digits 5-8
    return 2000 if year2 <= 57 else 1800


def birth_date(cpr: str) -> date:
    """Return the birth date a CPR number encodes.

    Args:
        cpr: ``DDMMYY-SSSS`` or ``DDMMYYSSSS``.

    Returns:
        The birth date, with the century taken from the serial's first digit.

    Raises:
        ValueError: the text is not ten digits or the date does not exist.

    Example:
        >>> birth_date("240512-4123")
        datetime.date(2012, 5, 24)
    """
    match = CPR_PATTERN.fullmatch(cpr.strip())
    if match is None:
        raise ValueError("a CPR number is DDMMYY-SSSS (ten digits)")
    day, month, year2, serial = (int(part) for part in match.groups())
    year = _century(year2, serial // 1000) + year2
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError("the CPR number's date does not exist") from None


def is_well_formed(cpr: str) -> bool:
    """Return whether ``cpr`` is ten digits holding a real birth date.

    Example:
        >>> is_well_formed("310299-1234")
        False
    """
    try:
        birth_date(cpr)
    except ValueError:
        return False
    return True


def format_cpr(cpr: str) -> str:
    """Return a well-formed CPR number in the ``DDMMYY-SSSS`` form.

    Raises:
        ValueError: ``cpr`` is not well-formed.

    Example:
        >>> format_cpr("2405124123")
        '240512-4123'
    """
    birth_date(cpr)
    digits = cpr.strip().replace("-", "")
    return f"{digits[:6]}-{digits[6:]}"


def mask_cpr(cpr: str) -> str:
    """Return ``cpr`` with its serial hidden: ``240512-4123`` becomes ``240512-****``.

    Example:
        >>> mask_cpr("240512-4123")
        '240512-****'
    """
    digits = cpr.strip().replace("-", "")
    return f"{digits[:6]}-****"


# The Cpr type ---------------------------------------------------------------------

#: Invisible characters that programs paste into copied text; always removed.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

#: Ten digits with at most one unambiguous separator after the sixth: a space, a
#: no-break space, a narrow no-break space, or a dash, en dash or em dash with or
#: without spaces around it.
_SPACE = "[ \u00a0\u202f]"
_TYPED_CPR = re.compile(
    rf"(\d{{6}})(?:{_SPACE}|{_SPACE}*[-\u2013\u2014]{_SPACE}*)?(\d{{4}})"
)

_FORM = "type it as DDMMYY-SSSS (ten digits)"


def _ordinal(position: int) -> str:
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    return f"{position}{'th' if 10 <= position % 100 <= 20 else suffix}"


def _cpr_error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(f"cpr_{kind}", message)


def _lost_leading_zero(digits: str) -> PydanticCustomError:
    guess = "0" + digits
    message = "a leading zero was probably lost when the CPR was stored as a number"
    advice = "format the column as text and type all ten digits"
    if is_well_formed(guess):
        message += f": {mask_cpr(guess)}? {advice.capitalize()}"
    else:
        message += f": {advice}"
    return _cpr_error("lost_zero", message)


def _parse_cpr(value: Any) -> str:
    """The pydantic validator behind :data:`Cpr`; see there."""
    if isinstance(value, bool):
        raise _cpr_error("type", f"a CPR number is text or a number: {_FORM}")
    if isinstance(value, float):
        if not value.is_integer():
            raise _cpr_error("type", f"a CPR number is a whole number: {_FORM}")
        value = int(value)
    if isinstance(value, int):
        digits = str(value)
        if len(digits) == 9:
            raise _lost_leading_zero(digits)
        value = digits
    if not isinstance(value, str):
        raise _cpr_error("type", f"a CPR number is text: {_FORM}")
    text = value.translate(_INVISIBLE).strip()
    match = _TYPED_CPR.fullmatch(text)
    if match is not None:
        digits = "".join(match.groups())
        if not is_well_formed(digits):
            shown = f"{digits[:2]}.{digits[2:4]}.{digits[4:6]}"
            raise _cpr_error(
                "date",
                f"the CPR number's birth date does not exist ({shown} as DD.MM.YY): "
                "check its first six digits",
            )
        return f"{digits[:6]}-{digits[6:]}"
    letter = next((i for i, char in enumerate(text) if char.isalpha()), None)
    if letter is not None and any(char.isdigit() for char in text):
        raise _cpr_error(
            "letter",
            f"a letter is among the digits (the {_ordinal(letter + 1)} character): "
            f"a CPR number has digits only, {_FORM}",
        )
    count = sum(char.isdigit() for char in text)
    if count == 9 and text.isdigit():
        raise _lost_leading_zero(text)
    if count != 10:
        raise _cpr_error("digits", f"a CPR number has ten digits, not {count}: {_FORM}")
    raise _cpr_error(
        "separator",
        "a CPR number has one dash (or space) after the sixth digit and nothing "
        f"else: {_FORM}",
    )


Cpr = Annotated[str, BeforeValidator(_parse_cpr)]
"""A CPR number as a pydantic field type, normalised to ``DDMMYY-SSSS``.

Accepted: ten digits holding a real birth date, bare or with one separator after the
sixth digit that programs paste (space, no-break space, narrow no-break space, dash,
en dash or em dash, with or without spaces around it); zero-width spaces and joiners,
byte-order marks and soft hyphens are removed. A number cell of ten digits is
formatted. The modulus-11 check is never applied (numbers issued since 2007 may fail
it). Refusals are pydantic errors whose texts never hold the full number; a 9-digit
number says its leading zero was probably lost and suggests the masked CPR.

Example:
    >>> class Row(BaseModel):
    ...     cpr: Cpr
    >>> Row(cpr="240512 \\u2013 4123").cpr
    '240512-4123'
"""


# Masking values in messages -------------------------------------------------------

#: A value that may be a CPR number typed wrong: digits, separators, one stray letter.
_CPR_LIKE = re.compile(
    r"\d[\d \u00a0\u202f\-\u2013\u2014]*(?:[^\W\d_][\d \u00a0\u202f\-\u2013\u2014]*)?"
)

#: A date, ISO (``2026-12-04``) or Danish (``04-12-2026``): never taken for a CPR.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}-\d{1,2}-\d{4}")


def mask_cpr_like(value: Any) -> str | None:
    """Return how a message shows ``value`` if it looks like a CPR number, else None.

    A value looks like a CPR number, perhaps typed wrong, when it holds 8 to 12 digits
    with nothing but separators, spaces or one stray letter among them; a number
    (an int, or a float holding one) of 8 to 12 digits does too. A well-formed
    number is masked as in logs (``DDMMYY-****``); any other shows its first four
    digits and what it holds. Rejection messages use it, so a mistyped CPR number
    never reaches a log, a database or the console in clear.

    Example:
        >>> mask_cpr_like("220209-40021")
        '2202**-**** (11 digits)'
        >>> mask_cpr_like("2202O94002")
        '2202**-**** (9 digits and a letter)'
        >>> mask_cpr_like("7.5") is None
        True
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.translate(_INVISIBLE).strip()
    if _CPR_LIKE.fullmatch(text) is None or _DATE.fullmatch(text) is not None:
        return None
    digits = "".join(char for char in text if char.isdigit())
    if not 8 <= len(digits) <= 12:
        return None
    letters = sum(char.isalpha() for char in text)
    if letters == 0 and len(digits) == 10 and is_well_formed(digits):
        return mask_cpr(digits)
    held = f"{len(digits)} digits" + (" and a letter" if letters else "")
    return f"{mask_mistyped(digits)} ({held})"


def mask_mistyped(text: str) -> str:
    """A CPR number typed wrong, masked: its first four digits, ``2202**-****``.

    Example:
        >>> mask_mistyped("2202O94002")
        '2202**-****'
    """
    digits = "".join(char for char in text if char.isdigit())
    return f"{digits[:4]}**-****"
