"""Retries with backoff: one policy, built on tenacity, logged the same way everywhere.

A step's own retries of a flaky application (``@step(retries=2)``), the browser's
login and page reloads after a transient server error, and SQLite's switch to WAL
mode while another process holds the file: each tries again through
:func:`retrying`, so every retry is logged as one warning event naming the attempt
and the error, waits its backoff, and gives up by re-raising the last error
unchanged (never tenacity's ``RetryError``).

Item-level retries (a failed item tried again in a later attempt) are not this:
they go back to the queue, where the engine's retry policy and the lease decide.

Example:
    >>> calls = []
    >>> def flaky() -> str:
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("reset")
    ...     return "ok"
    >>> retrying(ConnectionError, attempts=3, wait=lambda n: 0, event="demo")(flaky)
    'ok'
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_after_delay, stop_base

__all__ = ["retrying"]

log = structlog.get_logger("robotlib.retry")


def retrying(
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    *,
    attempts: int,
    wait: Callable[[int], float],
    event: str,
    when: Callable[[BaseException], bool] | None = None,
    give_up_after_s: float | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Retrying:
    """Return a tenacity ``Retrying`` with robotlib's policy.

    Use it as ``retrying(...)(function, *args)`` or as
    ``for attempt in retrying(...): with attempt: ...``.

    Args:
        retry_on: the exception types worth another try; any other error is raised
            at once.
        attempts: tries in all, the first included (1 = never retried).
        wait: seconds to wait after the n-th failed try (n counts from 1).
        event: the name of the warning logged before each wait, with ``attempt``
            (the try that failed), ``error_type``, ``error`` and ``wait_s``.
        when: a further test of the error (e.g. "the message says locked").
        give_up_after_s: also give up once this many seconds have passed.
        sleep: how to wait (tests pass a fake); ``time.sleep`` by default, looked
            up at each wait.
    """
    stop: stop_base = stop_after_attempt(attempts)
    if give_up_after_s is not None:
        stop = stop | stop_after_delay(give_up_after_s)

    def worth_retrying(exc: BaseException) -> bool:
        return isinstance(exc, retry_on) and (when is None or when(exc))

    return Retrying(
        retry=retry_if_exception(worth_retrying),
        stop=stop,
        wait=lambda state: wait(state.attempt_number),
        before_sleep=lambda state: _log_retry(event, state),
        sleep=sleep or (lambda seconds: time.sleep(seconds)),
        reraise=True,
    )


def _log_retry(event: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        event,
        attempt=state.attempt_number,
        error_type=type(error).__name__,
        error=str(error),
        wait_s=round(state.upcoming_sleep, 3),
    )
