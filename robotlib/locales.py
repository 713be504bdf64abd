"""Locale and time-zone names, checked once for settings and the spreadsheet readers.

A locale is a Babel name (``da``, ``da_DK``, ``en_US``); a time zone an IANA name
(``Europe/Copenhagen``, ``UTC``). Both are refused early, with the accepted form in
the message, rather than when the first cell is read.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

__all__ = ["HOSPITAL_TIME_ZONE", "check_locale", "check_time_zone"]

#: The hospital's zone: the default for reading input, for schedules, and the zone
#: times are shown to people in (:data:`robotlib.settings.DISPLAY_TZ`).
HOSPITAL_TIME_ZONE = "Europe/Copenhagen"


def check_locale(name: str) -> str:
    """Return ``name`` if Babel knows the locale, else raise ``ValueError``.

    Example:
        >>> check_locale("da_DK")
        'da_DK'
    """
    try:
        Locale.parse(name)
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValueError(
            f"unknown locale {name!r}: give a Babel locale such as 'da', 'da_DK' "
            "or 'en_US'"
        ) from None
    return name


def check_time_zone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone, else raise ``ValueError``.

    Example:
        >>> check_time_zone("Europe/Copenhagen")
        'Europe/Copenhagen'
    """
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(
            f"unknown time zone {name!r}: give an IANA zone such as "
            "'Europe/Copenhagen' or 'UTC'"
        ) from None
    return name
