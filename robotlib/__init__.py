"""robotlib: software robots for clinical registrations.

What robot authors use is here; everything else is internal.

Example:
    >>> from robotlib import BusinessRuleError, Context, Robot, Stage, step

The names are imported when first used (PEP 562), so a program that needs only a
part of robotlib (``rpa --help``, ``robotlib.errors``) does not import the engine,
the queue and SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robotlib.context import Application, Context
    from robotlib.cpr import Cpr
    from robotlib.errors import (
        ApplicationError,
        BusinessRuleError,
        ConfigurationError,
        InputError,
        RobotlibError,
        StepTimeoutError,
        TargetSystemError,
    )
    from robotlib.robot import RetryPolicy, Robot, Row, RowError, Stage
    from robotlib.steps import step

__all__ = [
    "Application",
    "ApplicationError",
    "BusinessRuleError",
    "ConfigurationError",
    "Context",
    "Cpr",
    "InputError",
    "RetryPolicy",
    "Robot",
    "RobotlibError",
    "Row",
    "RowError",
    "Stage",
    "StepTimeoutError",
    "TargetSystemError",
    "step",
]

__version__ = "0.1.0"

#: Where each public name is defined.
_HOMES = {
    "Application": "robotlib.context",
    "Context": "robotlib.context",
    "Cpr": "robotlib.cpr",
    "RetryPolicy": "robotlib.robot",
    "Robot": "robotlib.robot",
    "Row": "robotlib.robot",
    "RowError": "robotlib.robot",
    "Stage": "robotlib.robot",
    "step": "robotlib.steps",
} | dict.fromkeys(
    [
        "ApplicationError",
        "BusinessRuleError",
        "ConfigurationError",
        "InputError",
        "RobotlibError",
        "StepTimeoutError",
        "TargetSystemError",
    ],
    "robotlib.errors",
)


def __getattr__(name: str) -> Any:
    """Import a public name on first use, and keep it."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'robotlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    # Public names say where to import them from (``robotlib.Robot``, not
    # ``robotlib.robot.Robot``) in reprs, tracebacks and docs, as httpx does.
    if isinstance(value, type) or (callable(value) and hasattr(value, "__code__")):
        value.__module__ = "robotlib"
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
