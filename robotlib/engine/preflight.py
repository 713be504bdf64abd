"""A preflight: setup, the robot's preflight and teardown, and whether they passed.

A check before a batch that the robot can still log in and find the pages and
fields it needs. It touches no queue: nothing is loaded, claimed or recorded as a
run. Its log and, when it fails, a screenshot of every open application go to
``logs/<robot>/<run id>-preflight``. It never raises: any exception (a refused
login included) or Ctrl+C is a failed preflight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from robotlib.context import Context
from robotlib.engine.applications import stop_applications
from robotlib.engine.artifacts import save_screenshots
from robotlib.engine.runs import new_run_id, private_dir
from robotlib.logs import Redactor, run_log
from robotlib.robot import Robot
from robotlib.settings import Settings

__all__ = ["PreflightResult", "run_preflight"]

log = structlog.get_logger("robotlib.engine")


@dataclass(frozen=True)
class PreflightResult:
    """How a preflight ended.

    Attributes:
        robot: the robot's name.
        ok: True when setup and the robot's preflight raised nothing.
        message: why it failed, redacted, for the operator (empty when it passed).
        run_dir: the folder of its log and screenshots
            (``logs/<robot>/<run id>-preflight``).
        duration_s: how long it took.
        checked: what ran, e.g. ``"setup and preflight"``.
    """

    robot: str
    ok: bool
    message: str
    run_dir: Path
    duration_s: float
    checked: str


def run_preflight(
    robot: Robot[Any],
    *,
    settings: Settings,
    redactor: Redactor,
    credentials_loader: Callable[[], Any] | None,
    shared: Mapping[str, Any],
    host: str,
    pid: int,
) -> PreflightResult:
    """Run setup, the robot's preflight and teardown; report whether they passed."""
    preflight_id = f"{new_run_id(datetime.now(UTC))}-preflight"
    run_dir = private_dir(settings.logs / robot.name / preflight_id)
    ctx = Context(
        robot=robot,
        settings=settings,
        run_id=preflight_id,
        run_dir=run_dir,
        credentials_loader=credentials_loader,
        shared=dict(shared),
    )
    checked = _checked(robot)
    started = time.perf_counter()
    ok, message = False, ""
    with (
        run_log(run_dir / "events.jsonl"),
        structlog.contextvars.bound_contextvars(robot=robot.name, run_id=preflight_id),
    ):
        log.info("preflight_started", host=host, pid=pid, checked=checked)
        try:
            _checks(robot, ctx, settings.logs)
            ok = True
        except KeyboardInterrupt:
            message = "interrupted"
            log.warning(
                "preflight_failed", error_type="KeyboardInterrupt", error=message
            )
        except Exception as exc:
            message = redactor.redact(str(exc) or type(exc).__name__)
            log.error(
                "preflight_failed",
                error_type=type(exc).__name__,
                error=message,
                exc_info=exc,
            )
        duration_s = round(time.perf_counter() - started, 2)
        if ok:
            log.info("preflight_passed", checked=checked, duration_s=duration_s)
    return PreflightResult(robot.name, ok, message, run_dir, duration_s, checked)


def _checks(robot: Robot[Any], ctx: Context, logs: Path) -> None:
    """Setup, then preflight; screenshots if either raises; always teardown."""
    try:
        try:
            if robot.starts_applications:
                robot.start(ctx)
                log.info("setup_finished")
            for check in robot.preflight:
                check(ctx)
        except Exception:
            save_screenshots(ctx, "preflight", logs)
            raise
        finally:
            stop_applications(robot, ctx, reason="preflight ended")
    finally:
        for problem in ctx.end_run():
            log.warning("run_end_callback_failed", error=str(problem))


def _checked(robot: Robot[Any]) -> str:
    """What a preflight of ``robot`` runs, in words."""
    if robot.preflight:
        return "setup and preflight" if robot.starts_applications else "preflight"
    if robot.starts_applications:
        return "setup only (the robot declares no preflight)"
    return "nothing (the robot declares neither setup nor preflight)"
