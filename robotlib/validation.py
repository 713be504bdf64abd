"""Validating one row into a robot's item model: what a raising check means.

Used by every source's reader (the spreadsheet reader and the engine, for rows a
robot's own source gives): a robot's validator may raise anything, and that is the
row's error, named by its column where one column's check raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel, ValidationError
from pydantic.fields import FieldInfo

__all__ = ["SHOWN_CHARS", "clipped", "failed_check", "input_key"]

#: How much of a long value a message shows.
SHOWN_CHARS = 60


def clipped(text: str) -> str:
    """A text for a message, cut short if long (a cell can hold 100,000 characters):
    ``'NPU000...' (100003 characters)``."""
    if len(text) <= SHOWN_CHARS:
        return repr(text)
    return f"{text[:SHOWN_CHARS]!r}... ({len(text)} characters)"


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
