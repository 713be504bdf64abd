"""robotlib: software robots for clinical registrations.

What robot authors use is here; everything else is internal.

Example:
    >>> from robotlib import BusinessRuleError, Context, Robot, Stage, step
"""

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

# Public names say where to import them from (``robotlib.Robot``, not
# ``robotlib.robot.Robot``) in reprs, tracebacks and docs, as httpx does.
for _name in __all__:
    _public = globals()[_name]
    if isinstance(_public, type) or (
        callable(_public) and hasattr(_public, "__code__")
    ):
        _public.__module__ = "robotlib"
del _name, _public
