"""lab_results_spa on the EPJ's bad night: nothing lost, nothing twice.

Run by ``make soak`` (pytest collects ``test_*.py`` only, so not by ``make test``
yet): the single-page robot's chaos batch is not yet stable at CI size (issue 19).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.config import Faults

pytestmark = pytest.mark.browser

#: Seconds a row may take through the SPA (each wait for the client to settle
#: takes 0.3 s), and for starting up.
SPA_ROW_BUDGET_S, START_BUDGET_S = 16, 120


def _rows() -> int:
    return int(os.environ.get("RPA_CHAOS_ROWS", "60"))


@pytest.mark.timeout(START_BUDGET_S + _rows() * SPA_ROW_BUDGET_S * 2)
def test_a_batch_through_the_single_page_epj_on_a_bad_night(
    make_chaos: Callable[..., Any],
) -> None:
    """The same bad night through the SPA's JSON API (HTTP 500 before and after
    saving, latency, sessions ending every 40 API calls): every row accounted
    for, none registered twice, the faults met."""
    bad_night = Faults(
        error_rate=0.05,
        error_after_rate=0.05,
        latency_jitter_ms=300,
        expire_every=40,
    )
    chaos = make_chaos(faults=bad_night, robot="lab_results_spa")
    plan = chaos.write_input(_rows())

    outputs = chaos.run_batch(
        plan, workers=2, timeout_s=START_BUDGET_S + plan.rows * SPA_ROW_BUDGET_S
    )

    outcome = chaos.account(plan)
    print(f"{len(outputs)} run(s): {dict(outcome.counts)}")
    assert outcome.counts["done"] >= len(plan.valid) * 0.9, outputs[-1]
    assert "with 2 workers" in outputs[-1]
    events = chaos.events()
    assert events["item_system_exception"] > 0, "the faults did not fault"
