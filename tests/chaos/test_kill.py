"""Workers SIGKILLed at random points of a batch: replaced; nothing lost or twice."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from robotlib.queue import ItemState, RunStatus, SqlAlchemyBackend

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(sys.platform == "win32", reason="no SIGKILL on Windows"),
]

ROWS = max(80, int(os.environ.get("RPA_CHAOS_ROWS", "60")))
#: Five kills at CI size, eight spread over a soak-sized batch.
KILLS = 5 if ROWS <= 100 else 8
#: Rows between two kills: 1 to this many (then a random moment within a row).
KILL_EVERY = max(4, ROWS // 20)


def _worker_runs(chaos: Any) -> list[Any]:
    backend = SqlAlchemyBackend(chaos.database)
    try:
        return [r for r in backend.runs("lab_results") if re.search(r"w\d+$", r.id)]
    finally:
        backend.close()


def _running(chaos: Any) -> list[Any]:
    return [r for r in _worker_runs(chaos) if r.finished_at is None]


def _finished(chaos: Any) -> int:
    backend = SqlAlchemyBackend(chaos.database)
    try:
        counts = backend.counts("lab_results")
    finally:
        backend.close()
    ends = (ItemState.DONE, ItemState.BUSINESS_EXCEPTION, ItemState.FAILED)
    return sum(counts[state] for state in ends)


def _wait(
    chaos: Any, condition: Callable[[], bool], what: str, timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        chaos.sandbox.check()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.timeout(600 + ROWS * 6)
def test_workers_killed_five_times_lose_nothing_and_register_nothing_twice(
    make_chaos: Callable[..., Any],
) -> None:
    """SIGKILL a worker at a random point (mid-item, mid-save, starting up) five
    times or more; the coordinator records it crashed, gives its item back and starts a
    replacement. At the end every row is accounted for, each result once."""
    chaos = make_chaos()
    plan = chaos.write_input(ROWS)
    run = chaos.start("run", "lab_results", "--input", str(plan.path), "--workers", "2")
    killed: list[tuple[str, int]] = []
    # (if this test fails, the fixture kills the coordinator's group and reaps it)
    # the rows rejected while loading end at once: count from when both
    # workers are at work, or the first "random point" may come before them
    _wait(chaos, lambda: len(_running(chaos)) == 2, "both workers to start")
    while len(killed) < KILLS:
        # a random number of rows on, then a random moment within a row
        target = _finished(chaos) + chaos.random.randint(1, KILL_EVERY)
        _wait(chaos, lambda: _finished(chaos) >= target, f"row {target}")  # noqa: B023
        time.sleep(chaos.random.uniform(0, 1.5))
        running = _running(chaos)
        assert running, "no worker left to kill: the batch ended too soon"
        victim = chaos.random.choice(running)
        os.kill(victim.pid, signal.SIGKILL)
        killed.append((victim.id, victim.pid))
        _wait(
            chaos,
            lambda: len(_worker_runs(chaos)) >= 2 + len(killed),
            "a replacement worker",
        )
    output, _ = run.communicate(timeout=300 + ROWS * 4)

    assert run.returncode == 0, output
    outcome = chaos.account(plan)
    print(f"killed {killed}: {dict(outcome.counts)}")
    assert outcome.counts["done"] == len(plan.valid), outcome.counts
    runs = {r.id: r for r in _worker_runs(chaos)}
    for run_id, pid in killed:
        assert RunStatus.CRASHED is runs[run_id].status
        assert "killed by SIGKILL" in runs[run_id].note
        with pytest.raises(ProcessLookupError):  # its browser went with it
            os.killpg(pid, 0)
    assert len(runs) == 2 + KILLS
    assert f"workers died: {killed[0][0]} was killed by SIGKILL" in output
    assert f"({KILLS} replaced)" in output
    assert sum(r.counts.get("done", 0) for r in runs.values()) == len(plan.valid)
