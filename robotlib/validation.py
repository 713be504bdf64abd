"""Validating one row into a robot's item model, and saying what is wrong with it.

One spelling of a row's problems for every reader (the spreadsheet reader, and the
engine's intake for rows a robot's own source gives, or an item stored before its
model changed): :func:`explain` for pydantic's errors, :func:`failed_check` when a
robot's validator raised anything else, :func:`shown` for the value a message
quotes (a CPR-like value masked, a long text clipped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel, ValidationError
from pydantic.fields import FieldInfo

from robotlib.cpr import mask_cpr_like

__all__ = [
    "SHOWN_CHARS",
    "clipped",
    "explain",
    "failed_check",
    "field_problem",
    "field_problems",
    "input_key",
    "shown",
    "whole",
]

#: Below this a float holds a whole number exactly.
_EXACT = float(2**53)

#: How much of a long value a message shows.
SHOWN_CHARS = 60


def clipped(text: str) -> str:
    """A text for a message, cut short if long (a cell can hold 100,000 characters):
    ``'NPU000...' (100003 characters)``."""
    if len(text) <= SHOWN_CHARS:
        return repr(text)
    return f"{text[:SHOWN_CHARS]!r}... ({len(text)} characters)"


def shown(value: Any) -> str:
    """A value as messages show it: ``value 'abc'``, ``value 7.5``, ``value 7``
    (for a spreadsheet's ``7.0``); a value that looks like a CPR number masked, as
    ``value 2202**-**** (11 digits)`` (see :func:`robotlib.cpr.mask_cpr_like`)."""
    masked = mask_cpr_like(value)
    if masked is not None:
        return f"value {masked}"
    if type(value) is float:
        value = whole(value)
    if isinstance(value, str):
        return f"value {clipped(value)}"
    return f"value {value}"


def whole(value: float) -> float | int:
    """A float holding a whole number as an int (``7.0`` → ``7``), else the float.

    Example:
        >>> whole(7.0), whole(7.5)
        (7, 7.5)
    """
    if value.is_integer() and -_EXACT < value < _EXACT:
        return int(value)
    return value


def explain(
    exc: ValidationError, headers: Mapping[str, str], cells: Mapping[str, Any]
) -> str:
    """Say what is wrong with a row, naming its columns.

    Example: ``column 'Værdi': Input should be a valid number (value 'abc')``.

    Args:
        exc: what validating the row into the item model raised.
        headers: input key → the column's header (a spreadsheet's heading, or the
            key itself for a source's mapping).
        cells: input key → the value as read, which the message quotes (a
            spreadsheet's raw cell, before conversion).
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        key = str(loc[0]) if loc else ""
        header = headers.get(key)
        if header is None:
            where = f"field {'.'.join(map(str, loc))!r}" if loc else "row"
            problems.append(f"{where}: {error['msg']}")
            continue
        if error["type"] == "missing":
            problems.append(
                f"column {header!r}: a value is required (the cell is empty)"
            )
            continue
        # a nested model's field: the value is the inner one, never the whole cell
        value = cells.get(key) if len(loc) == 1 else error.get("input")
        quoted = (
            "" if isinstance(value, Mapping | list | tuple) else f" ({shown(value)})"
        )
        problems.append(f"column {header!r}: {error['msg']}{quoted}")
    return "; ".join(problems)


def field_problems(exc: ValidationError) -> list[tuple[tuple[str, ...], str]]:
    """Each of pydantic's errors as a settings or definition file's messages say
    it: the field's path and the problem ("Value error, " dropped; an extra field
    is an "unknown field")."""
    found = []
    for error in exc.errors(include_url=False):
        path = tuple(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            found.append((path, "unknown field"))
        else:
            found.append((path, error["msg"].removeprefix("Value error, ")))
    return found


def field_problem(path: tuple[str, ...], message: str) -> str:
    """``dotted.path: message`` (the message alone for the whole object)."""
    return f"{'.'.join(path)}: {message}" if path else message


def input_key(name: str, info: FieldInfo) -> str:
    """The key a field is validated from: its (first) validation alias, else its
    alias, else its name."""
    choice: Any = info.validation_alias
    if isinstance(choice, AliasChoices):
        choice = choice.choices[0]
    if isinstance(choice, AliasPath) and len(choice.path) == 1:
        choice = choice.path[0]
    if isinstance(choice, str):
        return choice
    return info.alias or name


def failed_check(
    model: type[BaseModel],
    values: Mapping[str, Any],
    exc: Exception,
    labels: Mapping[str, str],
) -> str:
    """Explain an exception other than ValidationError raised by a model's checks.

    A robot's validator can raise anything (a ``TypeError`` comparing a naive and
    an aware datetime); that is the row's error, never the load's. The fields are
    validated one at a time to find the one whose check raises: the message names
    its column when exactly one does, else the row.

    Args:
        model: the item model.
        values: input key → value, as given to ``model_validate``.
        exc: what ``model_validate`` raised.
        labels: input key → the column's header, for the message.
    """
    keys = {name: input_key(name, info) for name, info in model.model_fields.items()}
    given = {
        name: values[key] if key in values else values[name]
        for name, key in keys.items()
        if key in values or name in values
    }
    failing: list[str] = []
    for name, value in given.items():
        others = {n: v for n, v in given.items() if n != name}
        try:
            model.__pydantic_validator__.validate_assignment(
                model.model_construct(**others), name, value
            )
        except ValidationError:
            continue
        except Exception:  # a robot's check may raise anything
            failing.append(name)
    what = f"{type(exc).__name__}: {clipped(str(exc))[1:-1]}"
    if len(failing) == 1:
        key = keys[failing[0]]
        header = labels.get(key) or labels.get(failing[0]) or key
        return f"column {header!r}: the robot's check of this value failed ({what})"
    return f"the robot's check of this row failed ({what})"
