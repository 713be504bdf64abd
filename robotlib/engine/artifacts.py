"""What a failure leaves behind: a screenshot of every open application, and the
Playwright trace of an item that failed on a retry.

Artifacts go to the run's folder, owner-only, named after the item and attempt
(``item-12-attempt-2-browser.png``); the queue records their paths relative to the
logs folder. A trace is rewritten once with its secrets masked before it is kept
(:func:`robotlib.traces.scrub_trace`); one that cannot be scrubbed is deleted. Saving
never raises: a failed screenshot is logged, and the item's exception is recorded
all the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from robotlib.context import Context
from robotlib.logs import Redactor
from robotlib.traces import scrub_trace

__all__ = ["owner_only", "pause_at", "save_screenshots", "save_traces"]

log = structlog.get_logger("robotlib.engine")


def save_screenshots(ctx: Context, prefix: str, logs: Path) -> list[str]:
    """Ask each open application for a screenshot; return the paths under ``logs``."""
    saved = []
    for application in ctx.applications:
        path = ctx.run_dir / f"{prefix}-{_safe(application.name)}.png"
        try:
            written = application.screenshot(path)
        except Exception as exc:
            log.warning(
                "screenshot_failed", application=application.name, error=str(exc)
            )
            continue
        if written is not None:
            owner_only(written)
            saved.append(written.relative_to(logs).as_posix())
    return saved


def save_traces(ctx: Context, prefix: str, logs: Path, redactor: Redactor) -> list[str]:
    """Ask each application that keeps a trace to save it, scrubbed; never raises."""
    saved = []
    for application in ctx.applications:
        save = getattr(application, "save_trace", None)
        if save is None:
            continue
        path = ctx.run_dir / f"{prefix}-{_safe(application.name)}-trace.zip"
        try:
            written = save(path)
            if written is not None:
                owner_only(written)
                scrub_trace(written, redactor.hide_secrets)
        except Exception as exc:
            # a trace that may still hold a password is not kept
            path.unlink(missing_ok=True)
            log.warning("trace_failed", application=application.name, error=str(exc))
            continue
        if written is not None:
            saved.append(written.relative_to(logs).as_posix())
    return saved


def pause_at(ctx: Context, exc: BaseException, *, inspector: bool) -> None:
    """Stop for a person at a system exception: pdb where it was raised, or the
    Playwright Inspector on the page of an application that has one (``pause()``).
    """
    log.warning("paused_at_failure", error=str(exc), inspector=inspector)
    if inspector:
        for application in reversed(ctx.applications):
            if (pause := getattr(application, "pause", None)) is not None:
                pause()
                return
    import pdb

    print(f"\nPaused at {type(exc).__name__}: {exc}  (c: continue the run)")
    pdb.post_mortem(exc.__traceback__)


def owner_only(path: Path) -> None:
    """Make a file readable by its owner only (POSIX)."""
    if os.name == "posix" and path.exists():
        path.chmod(0o600)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]
