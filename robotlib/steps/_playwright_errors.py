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
        except TimeoutError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "timed out"
            raise StepTimeoutError(f"{function.__name__}: {first}") from exc
        except Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else "browser error"
            raise TargetSystemError(f"{function.__name__}: {first}") from exc

    return run
