"""The project's defaults for reading input files, set by the engine for a load.

A robot's ``source`` is called as ``source(input_path)``: it is not given the
project's settings. The engine sets these defaults (from ``rpa.toml``: ``locale``,
``time_zone``; from the run: how long the file must be unchanged) around the load,
and :func:`robotlib.steps.excel.read_rows` reads them where its own arguments are
not given. Outside a load (a test calling ``read_rows`` directly) the defaults are
the project defaults: Danish notation, Copenhagen time, no stability wait.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from robotlib.locales import HOSPITAL_TIME_ZONE

__all__ = ["DEFAULT_LOCALE", "DEFAULT_TIME_ZONE", "Reading", "current", "reading"]

DEFAULT_LOCALE = "da"
DEFAULT_TIME_ZONE = HOSPITAL_TIME_ZONE


@dataclass(frozen=True)
class Reading:
    """How input files are read when a source does not say otherwise.

    Attributes:
        locale: the notation of numbers and dates in text cells (a Babel locale:
            ``"da"``, ``"da_DK"``, ``"en_US"``).
        time_zone: the zone aware datetimes are converted to for naive fields.
        stable_for_s: seconds the file's size and modification time must stay
            unchanged before it is read (0: read at once).
    """

    locale: str = DEFAULT_LOCALE
    time_zone: str = DEFAULT_TIME_ZONE
    stable_for_s: float = 0.0


_DEFAULTS = Reading()
_current: ContextVar[Reading | None] = ContextVar("robotlib_reading", default=None)


def current() -> Reading:
    """The defaults in force now."""
    return _current.get() or _DEFAULTS


@contextlib.contextmanager
def reading(defaults: Reading) -> Iterator[Reading]:
    """Use ``defaults`` for the sources read inside the ``with`` block."""
    token = _current.set(defaults)
    try:
        yield defaults
    finally:
        _current.reset(token)
