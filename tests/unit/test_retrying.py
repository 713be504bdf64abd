"""Tests of robotlib.retrying: the one retry policy (tenacity underneath)."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from robotlib.retrying import retrying


class Flaky:
    """Fails with the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retries_log_each_wait_and_then_succeed() -> None:
    waits: list[float] = []
    flaky = Flaky(ConnectionError("reset"), ConnectionError("reset again"))
    with capture_logs() as logs:
        result = retrying(
            ConnectionError,
            attempts=3,
            wait=lambda failed: 0.5 * failed,
            event="thing_retried",
            sleep=waits.append,
        )(flaky)
    assert "ok" == result
    assert [0.5, 1.0] == waits
    assert [
        (1, "ConnectionError", "reset", 0.5),
        (2, "ConnectionError", "reset again", 1.0),
    ] == [(e["attempt"], e["error_type"], e["error"], e["wait_s"]) for e in logs]
    assert {"thing_retried"} == {e["event"] for e in logs}
    assert {"warning"} == {e["log_level"] for e in logs}


def test_the_last_error_is_raised_unchanged() -> None:
    """Giving up raises the application's own error, never tenacity's RetryError."""
    last = ConnectionError("third")
    flaky = Flaky(ConnectionError("1"), ConnectionError("2"), last)
    policy = retrying(
        ConnectionError, attempts=3, wait=lambda _: 0, event="x", sleep=lambda _: None
    )
    with pytest.raises(ConnectionError) as raised:
        policy(flaky)
    assert raised.value is last
    assert 3 == flaky.calls


def test_other_errors_are_not_retried() -> None:
    flaky = Flaky(KeyError("bug"))
    policy = retrying(
        ConnectionError, attempts=5, wait=lambda _: 0, event="x", sleep=lambda _: None
    )
    with pytest.raises(KeyError):
        policy(flaky)
    assert 1 == flaky.calls


def test_when_narrows_the_errors_worth_a_retry() -> None:
    policy = retrying(
        OSError,
        when=lambda exc: "locked" in str(exc),
        attempts=5,
        wait=lambda _: 0,
        event="x",
        sleep=lambda _: None,
    )
    locked = Flaky(OSError("database is locked"))
    assert "ok" == policy(locked)
    assert 2 == locked.calls
    broken = Flaky(OSError("disk I/O error"))
    with pytest.raises(OSError, match="disk"):
        policy(broken)
    assert 1 == broken.calls


def test_give_up_after_a_time_even_with_attempts_left() -> None:
    flaky = Flaky(*(ConnectionError(str(n)) for n in range(100)))
    policy = retrying(
        ConnectionError,
        attempts=1000,
        give_up_after_s=0.0,
        wait=lambda _: 0,
        event="x",
        sleep=lambda _: None,
    )
    with pytest.raises(ConnectionError, match=r"^0$"):
        policy(flaky)
    assert 1 == flaky.calls
