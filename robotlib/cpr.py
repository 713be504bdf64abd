"""Danish CPR numbers: parsing, birth dates and masking.

A CPR number is ``DDMMYY-SSSS``: the birth date plus a four-digit serial whose first
digit, together with the two-digit year, gives the century. The modulus-11 check is
not guaranteed for numbers issued since 2007, so it is never used to reject a number.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["CPR_PATTERN", "birth_date", "format_cpr", "is_well_formed", "mask_cpr"]

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
