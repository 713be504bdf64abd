"""``@step``: every step call logged with its name, duration and outcome.

Arguments are logged in short form, except those whose name says they are secret
(password, secret, token, key, credential), which are never logged; the log's
redactor masks registered secrets and CPR numbers in whatever remains.

A step that is safe to run again (it reads, searches or navigates; it saves
nothing) may say so with ``retries``: after an
:class:`~robotlib.errors.ApplicationError` (HTTP 5xx, an expired session, a
timeout) it runs again from the start, so a flaky system does not cost the item
an attempt.

Inside an engine run, every step first checks the current item's lease (see
:mod:`robotlib._lease`): a worker whose lease may have run out (it was paused, say)
and whose item another worker has taken since runs no further step of it; the step
raises :class:`~robotlib.errors.LeaseLostError` instead, before it starts.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar, overload

import structlog

from robotlib import _lease
from robotlib.errors import ApplicationError
from robotlib.retrying import retrying
from robotlib.secrecy import MASK, is_secret_name

__all__ = ["step"]

P = ParamSpec("P")
R = TypeVar("R")

_MAX_REPR = 200

log = structlog.get_logger("robotlib.step")


@overload
def step(function: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    log_args: bool = True,
    retries: int = 0,
    retry_pause_s: float = 0.5,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def step(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    log_args: bool = True,
    retries: int = 0,
    retry_pause_s: float = 0.5,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a function a step: logged with its name, duration and outcome.

    Args:
        function: the step function (when used as ``@step`` without parentheses).
        name: the step's name in the log; default: the function's name.
        log_args: log the (non-secret) arguments with ``step_started``.
        retries: run the step again this many times after an
            :class:`~robotlib.errors.ApplicationError`, ``retry_pause_s`` apart
            (doubling). Only for steps that are safe to repeat: never for one that
            saves, since a save that answered an error may still have gone
            through.
        retry_pause_s: the first pause before running the step again.

    Example:
        >>> @step
        ... def find_patient(page, *, cpr: str) -> int:
        ...     return 1
        >>> @step(retries=2)  # a search: safe to repeat
        ... def open_patient(page, *, cpr: str) -> None:
        ...     pass
    """
    if retries < 0 or retry_pause_s < 0:
        raise ValueError("retries and retry_pause_s cannot be negative")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        step_name = name or func.__name__
        signature = inspect.signature(func)

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            fields = _arguments(signature, args, kwargs) if log_args else {}
            with structlog.contextvars.bound_contextvars(step=step_name):
                try:
                    _lease.check()
                except BaseException as exc:
                    log.warning(
                        "step_not_started",
                        error_type=type(exc).__name__,
                        error=str(exc),
                    )
                    raise
                log.debug("step_started", **fields)
                started = time.perf_counter()
                try:
                    result = _with_retries(func, args, kwargs, retries, retry_pause_s)
                except BaseException as exc:
                    log.info(
                        "step_failed",
                        duration_ms=_ms(started),
                        error_type=type(exc).__name__,
                        error=str(exc),
                    )
                    raise
                log.info("step_finished", duration_ms=_ms(started))
                return result

        return run

    if function is not None:
        return decorate(function)
    return decorate


def _with_retries(
    func: Callable[..., R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    retries: int,
    pause_s: float,
) -> R:
    tries = 0

    def attempt() -> R:
        nonlocal tries
        tries += 1
        if tries > 1:
            _lease.check()  # the pause before this retry may have outlasted the lease
        return func(*args, **kwargs)

    policy = retrying(
        ApplicationError,
        attempts=retries + 1,
        wait=lambda failed: pause_s * 2 ** (failed - 1),
        event="step_retried",
    )
    return func(*args, **kwargs) if retries == 0 else policy(attempt)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, str]:
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return {}
    shown = {}
    for name, value in bound.arguments.items():
        if is_secret_name(name):
            shown[f"arg_{name}"] = MASK
            continue
        if isinstance(value, Mapping):  # fill_form's {"Password": ...}
            value = {
                key: MASK if is_secret_name(str(key)) else item
                for key, item in value.items()
            }
        text = repr(value)
        shown[f"arg_{name}"] = (
            text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "…"
        )
    return shown
