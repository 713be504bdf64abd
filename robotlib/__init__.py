"""robotlib: software robots for clinical registrations.

What robot authors use is here; everything else is internal.

Example:
    >>> from robotlib import BusinessRuleError, Context, Robot, Stage, step

The names are imported when first used (PEP 562), so a program that needs only a
part of robotlib (``rpa --help``, ``robotlib.errors``) does not import the engine,
the queue and SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robotlib import _lazy

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


# Public names say where to import them from (``robotlib.Robot``, not
# ``robotlib.robot.Robot``) in reprs, tracebacks and docs, as httpx does.
__getattr__ = _lazy.lazy_exports(globals(), _HOMES, public="robotlib")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
