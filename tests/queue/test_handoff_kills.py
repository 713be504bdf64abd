"""Hand-offs under SIGKILL: a child exists exactly when its parent is done.

A hypothesis state machine enqueues parents, runs a real worker process that
claims them and completes each with two hand-offs (a letter and an archive copy),
and kills it with SIGKILL a random while after its n-th completion; the dead
worker's items go back to the queue (``recover_run``), as its supervisor does.
The worker sleeps after each child it inserts, so that kills land inside the
completing transaction as well as between transactions (a completion that
committed its children apart from the parent fails this test in seconds).
After every step:

- a parent is done if and only if both its children exist, each naming it;
- no child exists without its parent, no reference twice;
- nothing is left in progress.

On a new SQLite file per example and on PostgreSQL (one database per test, its
queue tables emptied per example). ``RPA_TEST_HYPOTHESIS_PROFILE=soak`` (``make
soak``) runs many more, longer examples.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, text

from robotlib.queue import ItemState, NewItem, SqlAlchemyBackend

PARENT, CHILDREN = "registrar", ("letters", "archive")
PROFILE = os.environ.get("RPA_TEST_HYPOTHESIS_PROFILE", "ci")
#: (examples, steps per example) of each profile.
BUDGET = {"ci": (6, 6), "soak": (60, 12)}[PROFILE]

#: A worker: claims the registrar's items as run ``argv[2]`` and completes each,
#: handing off a letter and an archive copy, a pause between the two inserts.
WORKER = """
import sys, time
from datetime import timedelta
from robotlib.queue import Handoff, NewItem, SqlAlchemyBackend

backend = SqlAlchemyBackend(sys.argv[1])
add = backend._add

def slow_add(tx, change, now):
    found = add(tx, change, now)
    time.sleep(0.008)
    return found

backend._add = slow_add
print("ready", flush=True)
while True:
    item = backend.claim_next(
        "registrar", owner=sys.argv[2], lease=timedelta(minutes=5), run_id=sys.argv[2]
    )
    if item is None:
        break
    letters = [
        Handoff(robot, NewItem(item.reference, {"of": item.reference}))
        for robot in ("letters", "archive")
    ]
    backend.complete(item.id, owner=sys.argv[2], output={}, handoffs=letters)
    print("done", item.id, flush=True)
print("empty", flush=True)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], str]]:
    """A factory of URLs of new, empty queue databases of one kind."""
    calls = 0
    pg_url: str | None = None
    if request.param == "postgresql":
        pg_url = str(request.getfixturevalue("make_postgresql_database")())
        SqlAlchemyBackend(pg_url).close()
    admin = create_engine(pg_url) if pg_url is not None else None

    def make() -> str:
        nonlocal calls
        calls += 1
        if admin is None:
            return f"sqlite:///{(tmp_path / f'queue-{calls}.db').as_posix()}"
        with admin.begin() as conn:
            conn.execute(
                text("TRUNCATE item_history, work_items, runs RESTART IDENTITY")
            )
        assert pg_url is not None
        return pg_url

    yield make
    if admin is not None:
        admin.dispose()


class HandoffMachine(RuleBasedStateMachine):
    """Parents enqueued, workers killed at random moments, leases recovered."""

    url: str

    def __init__(self) -> None:
        super().__init__()
        self.backend = SqlAlchemyBackend(self.url)
        self.parents = 0
        self.workers = 0

    def teardown(self) -> None:
        self.backend.close()

    @initialize()
    def first_parents(self) -> None:
        self.enqueue(6)

    @rule(count=st.integers(1, 8))
    def enqueue(self, count: int) -> None:
        rows = [NewItem(f"p{self.parents + n}", {}) for n in range(count)]
        self.backend.enqueue(PARENT, rows)
        self.parents += count

    @rule(
        kill=st.tuples(st.integers(0, 4), st.integers(3, 25)) | st.none(),
    )
    def work(self, kill: tuple[int, int] | None) -> None:
        """Run a worker to the end, or SIGKILL it ``kill[1]`` ms after it completed
        ``kill[0]`` items (an item takes about 20 ms: inside a completion or
        between two)."""
        self.workers += 1
        run = f"worker{self.workers}"
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, self.url, run],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            assert "ready" == process.stdout.readline().strip()
            if kill is not None:
                items, delay_ms = kill
                for _ in range(items):
                    if process.stdout.readline().strip() in ("empty", ""):
                        break
                time.sleep(delay_ms / 1000)
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        if kill is None:
            assert 0 == process.returncode
        self.backend.recover_run(run, note="the worker was killed")

    @invariant()
    def children_exist_exactly_for_done_parents(self) -> None:
        parents = {item.id: item for item in self.backend.items(PARENT)}
        done = {i for i, item in parents.items() if item.state is ItemState.DONE}
        for robot in CHILDREN:
            children = self.backend.items(robot)
            assert done == {child.parent_id for child in children}, robot
            assert len(children) == len(done), f"{robot}: a parent has two"
            for child in children:
                assert child.reference == parents[child.parent_id or 0].reference
        stuck = [i for i in parents.values() if i.state is ItemState.IN_PROGRESS]
        assert not stuck, "a dead worker's item was left in progress"


def test_handoffs_survive_sigkill_at_any_moment(fresh_url: Callable[[], str]) -> None:
    """Under kills at random moments, no child without its done parent, none twice,
    and a done parent always has both."""
    examples, steps = BUDGET

    class Machine(HandoffMachine):
        def __init__(self) -> None:
            type(self).url = fresh_url()
            super().__init__()

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=PROFILE == "ci",
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
