"""Field types for item models: what every robot's spreadsheet columns need.

Each is an ``Annotated`` type for a pydantic field, like :data:`robotlib.Cpr`::

    class Transfer(BaseModel):
        department: Code = Field(alias="Til afdeling", pattern=r"^[A-ZÆØÅ]{2,5}$")
        tasks: CommaList = Field(default_factory=list, alias="Opgaver afsluttet")
        answered_on: Annotated[date, NotFuture] = Field(alias="Besvarelsesdato")

A value they refuse is a bad row, named by file, sheet, row and column.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator

from robotlib import reading

__all__ = ["Code", "CommaList", "DecimalText", "NotFuture"]

D = TypeVar("D", bound=date)


def _code(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [" ".join(part.split()) for part in value.split(",") if part.strip()]
    return value


def _decimal_text(value: Any) -> Any:
    """A number as a Danish system wants it typed: ``8,4``, never ``1e-05``."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return format(Decimal(str(value)).normalize(), "f").replace(".", ",")
    return value


def _not_future(value: D) -> D:
    """``value`` unless it is after now (a date: after today) in the project's zone.

    A naive datetime is a wall-clock time of the project's zone, as the reader
    gives it.
    """
    now = datetime.now(ZoneInfo(reading.current().time_zone))
    if isinstance(value, datetime):
        later = value > (now if value.tzinfo else now.replace(tzinfo=None))
    else:
        later = value > now.date()
    if later:
        raise ValueError(f"{value.isoformat()} is in the future")
    return value


#: A code written in capitals (a department, a bed, a test code): surrounding
#: spaces dropped, letters upper-cased, so ``" ort "`` is ``"ORT"``. Add the
#: code's ``pattern=`` to the field.
Code = Annotated[str, BeforeValidator(_code)]

#: A comma-separated cell as a list: ``"Blodprøve, Røntgen"`` is
#: ``["Blodprøve", "Røntgen"]``; empty parts and doubled spaces dropped.
CommaList = Annotated[list[str], BeforeValidator(_comma_list)]

#: A value to type as text into a Danish system: a number cell is written with a
#: decimal comma and without exponent (``8.4`` is ``"8,4"``, ``2.0`` is ``"2"``);
#: a text cell stays as written (``"<0,5"``).
DecimalText = Annotated[str, BeforeValidator(_decimal_text)]

#: A date or datetime that is not in the future: ``Annotated[date, NotFuture]``.
NotFuture = AfterValidator(_not_future)
