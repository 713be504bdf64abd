"""Playwright's errors turned into robotlib's where they enter a browser step."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from robotlib.errors import StepTimeoutError, TargetSystemError

__all__ = ["playwright_errors"]

P = ParamSpec("P")
R = TypeVar("R")


def playwright_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Turn Playwright's timeouts into StepTimeoutError, its errors into
    TargetSystemError (both system exceptions), named after the step."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from playwright.sync_api import Error, TimeoutError

        try:
            return function(*args, **kwargs)
        except Error as exc:
            if (dialog := _blocking_dialog(args)) is not None:
                raise dialog from exc
            if isinstance(exc, TimeoutError):
                first = str(exc).splitlines()[0] if str(exc) else "timed out"
                raise StepTimeoutError(f"{function.__name__}: {first}") from exc
            first = str(exc).splitlines()[0] if str(exc) else "browser error"
            raise TargetSystemError(f"{function.__name__}: {first}") from exc

    return run


def _blocking_dialog(args: tuple[object, ...]) -> Exception | None:
    """The error an application's modal dialog means, if the session declares its
    dialogs and one is open: the likely reason a step on it failed."""
    from playwright.sync_api import Error

    from robotlib.steps._browser_app import open_dialog_error
    from robotlib.steps._browser_session import BrowserSession

    session = args[0] if args else None
    if not isinstance(session, BrowserSession) or session.options.dialogs is None:
        return None
    try:
        return open_dialog_error(session)
    except Error:  # the page is gone, or the dialog went as it was read
        return None
