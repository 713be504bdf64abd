"""The ``rpa`` command. Thin: each command parses options and calls the services.

Exit codes: 0 success (a run with business exceptions included), 1 a run stopped by
system exceptions, 2 invalid robot, configuration or input.
"""

from robotlib.cli import (
    _admin,
    _audit,
    _console,
    _debug,
    _fleet,
    _new,
    _notify,
    _review,
    _run,
    _schedule,
    _users,
)
from robotlib.cli._app import app

__all__ = ["app", "main"]

_COMMAND_MODULES = (
    _admin,
    _audit,
    _console,
    _debug,
    _fleet,
    _new,
    _notify,
    _review,
    _run,
    _schedule,
    _users,
)  # imported for their commands


def main() -> None:
    """Run the ``rpa`` command."""
    app()
