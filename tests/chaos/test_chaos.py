"""Lab results batches on the EPJ's bad night, through its pages and through its
single-page client: nothing lost, nothing twice."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.config import Faults

pytestmark = pytest.mark.browser

#: Seconds a row may take under the bad night's faults, with two workers (about
#: 2 s measured; retries and restarts included), and for starting up.
ROW_BUDGET_S, START_BUDGET_S = 8, 120
#: The same through the SPA, where every wait for the client to settle takes
#: 0.3 s (about 7 s a row measured, retries and restarts included).
SPA_ROW_BUDGET_S = 16


def _rows() -> int:
    return int(os.environ.get("RPA_CHAOS_ROWS", "60"))


@pytest.mark.timeout(START_BUDGET_S + _rows() * ROW_BUDGET_S * 2)
def test_a_batch_on_a_bad_night_accounts_for_every_row(
    make_chaos: Callable[..., Any],
) -> None:
    """10% HTTP 500 (half after saving), random latency, sessions expiring every
    40 requests, notices, slow pages: every row ends done, business exception or
    failed, the EPJ holds each result once, failures carry a reason and a
    screenshot."""
    bad_night = Faults(
        error_rate=0.05,
        error_after_rate=0.05,
        latency_jitter_ms=300,
        expire_every=40,
        slow_render_ms=300,
    )
    chaos = make_chaos(faults=bad_night, notice_probability=0.1)

    events = _run_and_account(chaos, ROW_BUDGET_S)

    assert events["page_reloaded"] > 0, "the faults did not fault"
    assert events["notice_dismissed"] > 0 and events["session_renewed"] > 0


@pytest.mark.timeout(START_BUDGET_S + _rows() * SPA_ROW_BUDGET_S * 2)
def test_a_batch_through_the_single_page_epj_on_a_bad_night(
    make_chaos: Callable[..., Any],
) -> None:
    """The same bad night through the SPA's JSON API (HTTP 500 before and after
    saving, latency, sessions ending every 40 API calls): every row accounted
    for, none registered twice; failed reads done again, ended sessions survived."""
    bad_night = Faults(
        error_rate=0.05,
        error_after_rate=0.05,
        latency_jitter_ms=300,
        expire_every=40,
    )
    chaos = make_chaos(faults=bad_night, robot="lab_results_spa")

    events = _run_and_account(chaos, SPA_ROW_BUDGET_S)

    assert events["request_repeated"] > 0, "the faults did not fault"
    # A session that ends on a navigation is renewed by the step; one that ends
    # on a click is a system exception, and the item's retry logs in again.
    ended = [e for e in chaos.system_errors() if "session" in e.lower()]
    assert events["session_renewed"] + len(ended) > 0, "no session ended"


def _run_and_account(chaos: Any, row_budget_s: float) -> Counter[str]:
    """Run a batch of ``_rows()`` rows with two workers, check every invariant and
    that at least 90% of the valid rows are done; the workers' events by name."""
    plan = chaos.write_input(_rows())
    outputs = chaos.run_batch(
        plan, workers=2, timeout_s=START_BUDGET_S + plan.rows * row_budget_s
    )
    outcome = chaos.account(plan)
    print(f"{len(outputs)} run(s): {dict(outcome.counts)}")
    assert outcome.counts["done"] >= len(plan.valid) * 0.9, outputs[-1]
    assert "with 2 workers" in outputs[-1]
    events: Counter[str] = chaos.events()
    return events
