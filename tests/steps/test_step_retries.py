"""``@step(retries=N)``: a step that is safe to repeat runs again after a glitch."""

from __future__ import annotations

import pytest
import structlog.testing

from robotlib import BusinessRuleError, step
from robotlib.errors import StepTimeoutError, TargetSystemError


def _flaky(failures: list[Exception]) -> tuple[list[int], object]:
    calls: list[int] = []

    @step(retries=2, retry_pause_s=0)
    def search(cpr: str) -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return f"found {cpr}"

    return calls, search


def test_a_step_runs_again_after_application_errors() -> None:
    """Two glitches, then success: one step call, three runs, two warnings."""
    calls, search = _flaky(
        [TargetSystemError("HTTP 500 from GET /x"), StepTimeoutError("slow")]
    )
    with structlog.testing.capture_logs() as logs:
        assert "found 1" == search("1")  # type: ignore[operator]
    assert 3 == len(calls)
    retried = [e for e in logs if e["event"] == "step_retried"]
    assert [(1, "TargetSystemError"), (2, "StepTimeoutError")] == [
        (e["attempt"], e["error_type"]) for e in retried
    ]
    others = [e["event"] for e in logs if e["event"] != "step_retried"]
    assert ["step_started", "step_finished"] == others


def test_the_last_error_is_raised_when_retries_run_out() -> None:
    """Three failures with retries=2: the third error reaches the caller."""
    calls, search = _flaky([TargetSystemError(f"HTTP 500 #{n}") for n in range(3)])
    with pytest.raises(TargetSystemError, match="#2"):
        search("1")  # type: ignore[operator]
    assert 3 == len(calls)


def test_a_business_rule_error_is_never_retried() -> None:
    """The patient does not exist: asking again would not change that."""
    calls, search = _flaky([BusinessRuleError("no such patient")])
    with pytest.raises(BusinessRuleError):
        search("1")  # type: ignore[operator]
    assert 1 == len(calls)


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        step(retries=-1)
