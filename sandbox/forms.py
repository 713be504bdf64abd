"""Parsing of form fields, shared by the registration pages.

Each parser returns the value or raises ``FieldError`` with the message shown beside
the field. Times are the hospital's wall-clock time (Europe/Copenhagen).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = ["LOCAL_TZ", "FieldError", "local_now", "parse_date", "parse_decimal"]

LOCAL_TZ = ZoneInfo("Europe/Copenhagen")


class FieldError(ValueError):
    """A field's value is not acceptable; the message is shown beside the field."""


def local_now() -> datetime:
    """Return the hospital's wall-clock time, without a time zone."""
    return datetime.now(LOCAL_TZ).replace(tzinfo=None)


def required(value: str, message: str = "This field is required.") -> str:
    """Return the stripped value, or raise when it is empty."""
    value = value.strip()
    if not value:
        raise FieldError(message)
    return value


def parse_decimal(value: str) -> float:
    """Parse ``7.5`` or the Danish ``7,5``."""
    text = required(value, "Enter a value.").replace(" ", "")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        raise FieldError("Enter a number, for example 7,5.") from None


def parse_local_datetime(value: str) -> datetime:
    """Parse a ``datetime-local`` value (``2026-11-20T08:30``); not in the future."""
    text = required(value, "Enter when the sample was taken.")
    try:
        moment = datetime.fromisoformat(text).replace(second=0, microsecond=0)
    except ValueError:
        raise FieldError("Enter a date and time as YYYY-MM-DDTHH:MM.") from None
    if moment.tzinfo is not None:
        raise FieldError("Enter the local time without a time zone.")
    if moment > local_now():
        raise FieldError("The sample time cannot be in the future.")
    return moment


def parse_date(value: str, *, what: str = "date") -> date:
    """Parse a ``date`` input value (``2026-11-20``); not in the future."""
    text = required(value, f"Enter the {what}.")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise FieldError(f"Enter the {what} as YYYY-MM-DD.") from None
    if day > local_now().date():
        raise FieldError(f"The {what} cannot be in the future.")
    return day
