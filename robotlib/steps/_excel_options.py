"""How one read of a sheet or CSV file is done: the options of ``read_rows``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from robotlib.locales import HOSPITAL_TIME_ZONE

__all__ = ["HiddenRows", "ReadOptions"]

#: What is done with rows hidden in Excel or filtered away.
HiddenRows = Literal["refuse", "skip", "include"]


@dataclass(frozen=True)
class ReadOptions:
    """The options of one read, defaults filled in.

    Attributes:
        locale: the Babel locale text cells' numbers and dates are written in.
        column_locales: field name → its own locale.
        time_zone: the zone aware datetimes become wall-clock time in, for naive
            fields.
        hidden_rows: ``"refuse"``, ``"skip"`` or ``"include"``.
        stable_for_s: seconds the file must stay unchanged before it is read.
    """

    locale: str = "da"
    column_locales: dict[str, str] = field(default_factory=dict)
    time_zone: str = HOSPITAL_TIME_ZONE
    hidden_rows: HiddenRows = "refuse"
    stable_for_s: float = 0.0
