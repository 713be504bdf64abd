"""The robot's applications in a run: started by setup, stopped by teardown.

A run registers the applications it opens (a browser session, a desktop program)
with its context; the engine tells them of each item through optional hooks
(``item_started``, ``item_finished``) and closes them, newest first, whenever it
restarts them or the run ends. Nothing here raises: a failing teardown or close is
logged, and the next setup starts afresh.
"""

from __future__ import annotations

from typing import Any

import structlog

from robotlib.context import Context
from robotlib.robot import Robot

__all__ = ["notify", "stop_applications"]

log = structlog.get_logger("robotlib.engine")


def stop_applications(robot: Robot[Any], ctx: Context, *, reason: str) -> None:
    """Run teardown and close every registered application; never raises."""
    if robot.teardown is not None:
        try:
            robot.teardown(ctx)
        except Exception as exc:
            log.warning(
                "teardown_failed", error=str(exc), error_type=type(exc).__name__
            )
    for application in reversed(ctx.applications):
        try:
            application.close()
        except Exception as exc:
            log.warning("close_failed", application=application.name, error=str(exc))
    ctx.applications.clear()
    ctx.state.clear()
    log.info("applications_stopped", reason=reason)


def notify(ctx: Context, hook: str, argument: object) -> None:
    """Call an optional hook on every open application; a failure is only logged."""
    for application in ctx.applications:
        method = getattr(application, hook, None)
        if method is None:
            continue
        try:
            method(argument)
        except Exception as exc:
            log.warning(
                "application_hook_failed",
                hook=hook,
                application=application.name,
                error=str(exc),
            )
