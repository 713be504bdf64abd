"""Property-based tests of the work queue's state machine (hypothesis, stateful).

A :class:`QueueMachine` drives one backend with random sequences of every queue
operation (enqueue with repeated references, claims by several workers, complete,
fail with and without ``retry_at``, business exceptions, release, lease expiry and
``recover_expired``, a worker's death (``recover_run``), ``extend_lease``,
``finish_stage``, the operator's ``retry`` and ``resolve`` in batches) and keeps a
model of what each item should look like. After every step it checks the backend
against the model and against the rules of :mod:`robotlib.queue.base`: one owner per
item and only while it is in progress, only the transitions
:mod:`robotlib.queue._transitions` allows, counts that add up to the references
enqueued, consistent histories, the attempts and claims rules, and audit entries for
exactly the operator's actions.

It runs on the in-memory backend, on a new SQLite file per example and on
PostgreSQL (one database per test, its queue tables emptied per example; skipped
like the contract suite where no server answers).

The example budget is a profile chosen by the environment variable
``RPA_TEST_HYPOTHESIS_PROFILE``:

- ``ci`` (the default): a small, derandomized budget, the same examples every run;
- ``soak``: many more, longer and random examples (for ``make soak``).

A failure prints its steps and a ``@reproduce_failure`` blob. The soak profile also
keeps failing examples in ``.hypothesis/soak`` at the project's root and replays them
first on the next soak run, so a failure found in a long run is not lost when that
run is stopped before its report. The ci profile keeps none (the same examples every
run).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, text

from robotlib.errors import (
    InvalidTransitionError,
    ItemNotFoundError,
    LeaseLostError,
)
from robotlib.queue import (
    InMemoryBackend,
    ItemState,
    NewItem,
    QueueBackend,
    SqlAlchemyBackend,
    WorkItem,
)
from robotlib.queue import _transitions as t
from robotlib.testing import FakeClock

S = ItemState
START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
ROBOTS = ("lab_results", "referrals")
REFERENCES = tuple(f"r{n}" for n in range(5))
OWNERS = ("w1", "w2", "w3")
MISSING_ID = 999_999

# Profiles ---------------------------------------------------------------------------

#: (max_examples, stateful_step_count) per backend and profile.
BUDGETS: dict[str, dict[str, tuple[int, int]]] = {
    "ci": {"memory": (100, 40), "sqlite": (30, 30), "postgresql": (15, 30)},
    "soak": {"memory": (5000, 80), "sqlite": (1000, 60), "postgresql": (300, 60)},
}
PROFILE = os.environ.get("RPA_TEST_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in BUDGETS:
    raise ValueError(
        f"RPA_TEST_HYPOTHESIS_PROFILE={PROFILE!r}: expected one of {sorted(BUDGETS)}"
    )


#: Where the soak profile keeps the examples that failed (replayed first next time).
SOAK_EXAMPLES = Path(__file__).resolve().parents[2] / ".hypothesis" / "soak"


def budget(kind: str) -> settings:
    """Return the hypothesis settings of the profile for one backend kind."""
    examples, steps = BUDGETS[PROFILE][kind]
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=PROFILE == "ci",
        database=(
            DirectoryBasedExampleDatabase(SOAK_EXAMPLES) if PROFILE == "soak" else None
        ),
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )


# The allowed transitions, derived from _transitions.py -----------------------------


def _item_in(state: ItemState) -> WorkItem:
    item = t.enqueued(ROBOTS[0], NewItem("r", {}), now=START, run_id=None).after
    owner = "w" if state is S.IN_PROGRESS else None
    return replace(item, state=state, lease_owner=owner)


def derived_transitions() -> set[tuple[ItemState | None, ItemState]]:
    """Return every (from, to) pair that some function of _transitions allows."""
    now, later = START, START + timedelta(minutes=1)
    operations: list[Callable[[WorkItem], t.Change]] = [
        lambda i: t.claimed(i, owner="w", lease_expires=later, now=now, run_id=None),
        lambda i: t.completed(i, owner="w", output={}, note="", now=now),
        lambda i: t.failed(
            i,
            owner="w",
            error_type="E",
            message="m",
            retry_at=None,
            artifacts=(),
            now=now,
        ),
        lambda i: t.failed(
            i,
            owner="w",
            error_type="E",
            message="m",
            retry_at=later,
            artifacts=(),
            now=now,
        ),
        lambda i: t.business_excepted(
            i, owner="w", error_type="E", message="m", artifacts=(), now=now
        ),
        lambda i: t.released(i, owner="w", note="n"),
        t.recovered,
        lambda i: t.retried(i, note="n"),
        lambda i: t.resolved(i, note="n", now=now),
    ]
    allowed: set[tuple[ItemState | None, ItemState]] = set()
    for new in (NewItem("r", {}), NewItem("r", {}, rejected="bad row")):
        created = t.enqueued(ROBOTS[0], new, now=now, run_id=None)
        allowed.add((None, created.after.state))
    for state in ItemState:
        for operation in operations:
            try:
                change = operation(_item_in(state))
            except (LeaseLostError, InvalidTransitionError):
                continue
            allowed.add((change.before.state, change.after.state))
    return allowed


ALLOWED = derived_transitions()

#: The life of an item as models.ItemState documents it.
DOCUMENTED = {
    (None, S.NEW),
    (None, S.BUSINESS_EXCEPTION),  # enqueued as rejected
    (S.NEW, S.IN_PROGRESS),  # claim
    (S.IN_PROGRESS, S.DONE),
    (S.IN_PROGRESS, S.BUSINESS_EXCEPTION),
    (S.IN_PROGRESS, S.FAILED),
    (S.IN_PROGRESS, S.NEW),  # fail with retry_at, release, lease expired
    (S.BUSINESS_EXCEPTION, S.NEW),  # operator retry
    (S.FAILED, S.NEW),
    (S.BUSINESS_EXCEPTION, S.RESOLVED),  # operator resolve
    (S.FAILED, S.RESOLVED),
}


def test_transitions_are_the_documented_ones() -> None:
    """The transitions _transitions.py allows are exactly the documented life."""
    assert DOCUMENTED == ALLOWED


# Fresh backends per example ---------------------------------------------------------


@dataclass(frozen=True)
class Fresh:
    """Opens ``handles`` backends on one new, empty store of a kind, on ``clock``."""

    kind: str
    open: Callable[[FakeClock, int], list[QueueBackend]]

    def __call__(self, clock: FakeClock, handles: int = 1) -> list[QueueBackend]:
        """Return ``handles`` backends on a new, empty store."""
        return self.open(clock, handles)


QUEUE_TABLES = "item_history, audit_log, work_items, runs"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fresh]:
    """Return a factory of backends on a new, empty store, closing the last ones.

    Memory: a new backend (its handles are the same object). SQLite: a new file.
    PostgreSQL: one new database for the test, its queue tables emptied per call.
    """
    opened: list[QueueBackend] = []
    calls = 0
    pg_url: str | None = None
    if request.param == "postgresql":
        pg_url = request.getfixturevalue("make_postgresql_database")()
        SqlAlchemyBackend(pg_url).close()  # creates the tables
    admin = create_engine(pg_url) if pg_url is not None else None

    def make(clock: FakeClock, handles: int = 1) -> list[QueueBackend]:
        nonlocal calls
        calls += 1
        for backend in opened:
            backend.close()
        opened.clear()
        if request.param == "memory":
            return [InMemoryBackend(clock=clock)] * handles
        if admin is not None and pg_url is not None:
            with admin.begin() as conn:
                conn.execute(text(f"TRUNCATE {QUEUE_TABLES} RESTART IDENTITY"))
            url = pg_url
        else:
            url = f"sqlite:///{(tmp_path / f'queue-{calls}.db').as_posix()}"
        opened.extend(SqlAlchemyBackend(url, clock=clock) for _ in range(handles))
        return list(opened)

    yield Fresh(request.param, make)
    for backend in opened:
        backend.close()
    if admin is not None:
        admin.dispose()


# The model --------------------------------------------------------------------------


@dataclass
class Expected:
    """What one item should look like, and the history it should have."""

    id: int
    robot: str
    reference: str
    state: ItemState
    priority: int
    deadline: datetime | None
    not_before: datetime | None
    attempts: int = 0
    claims: int = 0
    lease_owner: str | None = None
    lease_expires: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_type: str | None = None
    finished_stages: tuple[str, ...] = ()
    output: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[ItemState | None, ItemState, datetime]] = field(
        default_factory=list
    )

    def move(self, to: ItemState, at: datetime) -> None:
        """Record a state change."""
        self.history.append((self.state, to, at))
        self.state = to

    def end(self, to: ItemState, at: datetime) -> None:
        """Record an end state (the lease given up, finished_at stamped)."""
        self.move(to, at)
        self.lease_owner = self.lease_expires = None
        self.finished_at = at

    def observed(self, item: WorkItem) -> dict[str, Any]:
        """Return the modelled fields of ``item``, to compare with ``expected()``."""
        return {name: getattr(item, name) for name in self.expected()}

    def expected(self) -> dict[str, Any]:
        """Return the fields the backend must show."""
        return {
            "id": self.id,
            "robot": self.robot,
            "reference": self.reference,
            "state": self.state,
            "priority": self.priority,
            "deadline": self.deadline,
            "not_before": self.not_before,
            "attempts": self.attempts,
            "claims": self.claims,
            "lease_owner": self.lease_owner,
            "lease_expires": self.lease_expires,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error_type": self.error_type,
            "finished_stages": self.finished_stages,
            "output": self.output,
        }


def _claim_order(item: Expected) -> tuple[int, bool, datetime, int]:
    return (-item.priority, item.deadline is None, item.deadline or START, item.id)


new_items = st.builds(
    lambda reference, priority, deadline_h, not_before_min, rejected: (
        reference,
        priority,
        None if deadline_h is None else START + timedelta(hours=deadline_h),
        not_before_min,
        rejected,
    ),
    st.sampled_from(REFERENCES),
    st.integers(0, 1),
    st.none() | st.integers(1, 3),
    st.none() | st.integers(0, 10),
    st.booleans().map(lambda b: "bad row" if b else None)
    | st.none()
    | st.none()
    | st.none(),
)
minutes = st.integers(1, 12).map(lambda m: timedelta(minutes=m))
picks = st.integers(0, 10_000)

WORKER_OPERATIONS: dict[str, Callable[[QueueBackend, int, str], object]] = {
    "extend_lease": lambda b, i, o: b.extend_lease(
        i, owner=o, lease=timedelta(minutes=5)
    ),
    "finish_stage": lambda b, i, o: b.finish_stage(i, owner=o, stage="x", output={}),
    "complete": lambda b, i, o: b.complete(i, owner=o, output={}),
    "fail": lambda b, i, o: b.fail(
        i, owner=o, error_type="E", message="m", retry_at=None
    ),
    "fail_retry": lambda b, i, o: b.fail(
        i, owner=o, error_type="E", message="m", retry_at=START
    ),
    "business_exception": lambda b, i, o: b.business_exception(
        i, owner=o, error_type="E", message="m"
    ),
    "release": lambda b, i, o: b.release(i, owner=o, note="n"),
}


class QueueMachine(RuleBasedStateMachine):
    """One backend driven by random operations, checked against a model."""

    fresh: Fresh  # set per test by test_queue_state_machine

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(START)
        (self.queue,) = self.fresh(self.clock, 1)
        self.items: dict[int, Expected] = {}
        self.audit: list[tuple[str, str, int, str, datetime]] = []

    # Helpers ----------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def in_state(self, *states: ItemState) -> list[Expected]:
        return [i for i in self.items.values() if i.state in states]

    def pick(self, items: list[Expected], n: int) -> Expected:
        return sorted(items, key=lambda i: i.id)[n % len(items)]

    def holding(self) -> list[Expected]:
        return self.in_state(S.IN_PROGRESS)

    def snapshot(self) -> tuple[list[WorkItem], list[Any], list[Any]]:
        """Everything an operation could change: items, histories, audit log."""
        items = self.queue.items()
        return items, [self.queue.history(i.id) for i in items], self.queue.audit_log()

    # Loading ----------------------------------------------------------------------

    @initialize(rows=st.lists(new_items, min_size=1, max_size=5))
    def load(self, rows: list[Any]) -> None:
        self.enqueue(ROBOTS[0], rows)

    @rule(robot=st.sampled_from(ROBOTS), rows=st.lists(new_items, max_size=4))
    def enqueue(self, robot: str, rows: list[Any]) -> None:
        now = self.now()
        known = {(i.robot, i.reference) for i in self.items.values()}
        batch = [
            NewItem(
                ref,
                {"ref": ref},
                priority=priority,
                deadline=deadline,
                not_before=None if nb is None else now + timedelta(minutes=nb),
                rejected=rejected,
            )
            for ref, priority, deadline, nb, rejected in rows
        ]
        fresh: dict[str, NewItem] = {}
        for new in batch:
            if (robot, new.reference) not in known and new.reference not in fresh:
                fresh[new.reference] = new

        result = self.queue.enqueue(robot, batch)

        assert (len(fresh), len(batch) - len(fresh)) == (
            result.added,
            result.existing,
        )
        last_id = max(self.items, default=0)
        for new in fresh.values():
            (stored,) = self.queue.items(robot, reference=new.reference)
            assert stored.id > last_id, "ids grow in enqueue order, never reused"
            last_id = stored.id
            state = S.BUSINESS_EXCEPTION if new.rejected else S.NEW
            self.items[stored.id] = Expected(
                id=stored.id,
                robot=robot,
                reference=new.reference,
                state=state,
                priority=new.priority,
                deadline=new.deadline,
                not_before=new.not_before,
                finished_at=now if new.rejected else None,
                error_type=t.REJECTED_ERROR_TYPE if new.rejected else None,
                history=[(None, state, now)],
            )

    # The worker's side ------------------------------------------------------------

    @rule(
        claims=st.lists(
            st.tuples(st.sampled_from(ROBOTS), st.sampled_from(OWNERS), minutes),
            min_size=1,
            max_size=3,
        )
    )
    def claim(self, claims: list[tuple[str, str, timedelta]]) -> None:
        """Workers claim one after another (several owners interleaved)."""
        for robot, owner, lease in claims:
            self.claim_one(robot, owner, lease)

    def claim_one(self, robot: str, owner: str, lease: timedelta) -> None:
        now = self.now()
        due = [
            i
            for i in self.in_state(S.NEW)
            if i.robot == robot and (i.not_before is None or i.not_before <= now)
        ]

        got = self.queue.claim_next(
            robot, owner=owner, lease=lease, run_id=f"run-{owner}"
        )

        if not due:
            assert got is None
            return
        expected = min(due, key=_claim_order)
        assert got is not None
        assert expected.id == got.id, "claim order: priority, deadline, id"
        expected.move(S.IN_PROGRESS, now)
        expected.attempts += 1
        expected.claims += 1
        expected.lease_owner, expected.lease_expires = owner, now + lease
        expected.started_at = expected.started_at or now
        assert expected.expected() == expected.observed(got)

    @precondition(lambda self: self.holding())
    @rule(pick=picks, lease=minutes)
    def extend_lease(self, pick: int, lease: timedelta) -> None:
        item = self.pick(self.holding(), pick)
        assert item.lease_owner is not None
        got = self.queue.extend_lease(item.id, owner=item.lease_owner, lease=lease)
        item.lease_expires = self.now() + lease
        assert item.expected() == item.observed(got)

    @precondition(lambda self: self.holding())
    @rule(pick=picks, stage=st.sampled_from(["search", "register"]))
    def finish_stage(self, pick: int, stage: str) -> None:
        item = self.pick(self.holding(), pick)
        assert item.lease_owner is not None
        output = {stage: len(item.history)}
        got = self.queue.finish_stage(
            item.id, owner=item.lease_owner, stage=stage, output=output
        )
        if stage not in item.finished_stages:
            item.finished_stages = (*item.finished_stages, stage)
        item.output = {**item.output, **output}
        assert item.expected() == item.observed(got)

    @precondition(lambda self: self.holding())
    @rule(pick=picks)
    def complete(self, pick: int) -> None:
        item = self.pick(self.holding(), pick)
        assert item.lease_owner is not None
        got = self.queue.complete(item.id, owner=item.lease_owner, output={"ok": 1})
        item.end(S.DONE, self.now())
        item.output = {**item.output, "ok": 1}
        item.error_type = None
        assert item.expected() == item.observed(got)

    @precondition(lambda self: self.holding())
    @rule(pick=picks, retry_in=st.none() | st.integers(0, 10))
    def fail(self, pick: int, retry_in: int | None) -> None:
        item = self.pick(self.holding(), pick)
        assert item.lease_owner is not None
        now = self.now()
        retry_at = None if retry_in is None else now + timedelta(minutes=retry_in)
        got = self.queue.fail(
            item.id,
            owner=item.lease_owner,
            error_type="Timeout",
            message="slow",
            retry_at=retry_at,
        )
        item.error_type = "Timeout"
        if retry_at is None:
            item.end(S.FAILED, now)
        else:
            item.move(S.NEW, now)
            item.lease_owner = item.lease_expires = None
            item.not_before = retry_at
        assert item.expected() == item.observed(got)

    @precondition(lambda self: self.holding())
    @rule(pick=picks)
    def business_exception(self, pick: int) -> None:
        item = self.pick(self.holding(), pick)
        assert item.lease_owner is not None
        got = self.queue.business_exception(
            item.id, owner=item.lease_owner, error_type="NoPatient", message="m"
        )
        item.end(S.BUSINESS_EXCEPTION, self.now())
        item.error_type = "NoPatient"
        assert item.expected() == item.observed(got)

    @precondition(lambda self: self.holding())
    @rule(pick=picks)
    def release(self, pick: int) -> None:
        item = self.pick(self.holding(), pick)
        assert item.lease_owner is not None
        got = self.queue.release(item.id, owner=item.lease_owner, note="stop")
        item.move(S.NEW, self.now())
        item.lease_owner = item.lease_expires = None
        item.attempts -= 1
        assert item.expected() == item.observed(got)

    @rule(
        pick=st.none() | picks,
        owner=st.sampled_from(OWNERS),
        operation=st.sampled_from(sorted(WORKER_OPERATIONS)),
    )
    def worker_operation_without_the_lease(
        self, pick: int | None, owner: str, operation: str
    ) -> None:
        """Another worker's item, one not in progress, or (pick None) none at all."""
        refusal: type[Exception] = ItemNotFoundError
        item_id = MISSING_ID
        if pick is not None and self.items:
            item = self.pick(list(self.items.values()), pick)
            if item.lease_owner == owner:  # take another worker
                owner = OWNERS[(OWNERS.index(owner) + 1) % len(OWNERS)]
            refusal, item_id = LeaseLostError, item.id
        before = self.snapshot()

        with pytest.raises(refusal):
            WORKER_OPERATIONS[operation](self.queue, item_id, owner)
        assert before == self.snapshot(), "a refused operation changes nothing"

    # Time and leases --------------------------------------------------------------

    @rule(delta=minutes)
    def advance_clock(self, delta: timedelta) -> None:
        self.clock.now += delta

    @precondition(lambda self: self.holding())
    @rule(pick=picks, recover=st.booleans())
    def advance_clock_to_a_lease_expiry(self, pick: int, recover: bool) -> None:
        """Stand exactly on an expiry (a lease ending now has expired), maybe
        recovering at once."""
        expires = self.pick(self.holding(), pick).lease_expires
        assert expires is not None
        self.clock.now = max(self.clock.now, expires)
        if recover:
            self.recover_expired(None)

    @rule(robot=st.none() | st.sampled_from(ROBOTS))
    def recover_expired(self, robot: str | None) -> None:
        now = self.now()
        expired = [
            i
            for i in self.holding()
            if i.lease_expires is not None
            and i.lease_expires <= now
            and robot in (None, i.robot)
        ]

        got = self.queue.recover_expired(robot)

        assert sorted(i.id for i in expired) == sorted(i.id for i in got)
        for item in expired:
            item.move(S.NEW, now)
            item.lease_owner = item.lease_expires = None  # the attempt stays counted

    @precondition(lambda self: self.holding())
    @rule(owner=st.sampled_from(OWNERS))
    def worker_dies(self, owner: str) -> None:
        """Its supervisor saw it die: what its run holds goes back at once."""
        now = self.now()
        held = [i for i in self.holding() if i.lease_owner == owner]

        got = self.queue.recover_run(f"run-{owner}", note=f"{owner} died")

        assert sorted(i.id for i in held) == sorted(i.id for i in got)
        for item in held:
            item.move(S.NEW, now)
            item.lease_owner = item.lease_expires = None  # the attempt stays counted

    # The operator's side ----------------------------------------------------------

    def _batch(self, picked: list[int], missing: bool) -> list[int]:
        ids = sorted(self.items)
        batch = [ids[n % len(ids)] for n in picked] if ids else []
        return [*batch, MISSING_ID] if missing or not batch else batch

    def _operate(
        self,
        action: str,
        ids: list[int],
        note: str,
        operate: Callable[[], list[WorkItem]],
        to: ItemState,
    ) -> None:
        distinct = list(dict.fromkeys(ids))
        refusal: type[Exception] | None = None
        if action == "resolve" and not note.strip():
            refusal = ValueError
        for item_id in distinct:
            if refusal is not None:
                break
            if item_id not in self.items:
                refusal = ItemNotFoundError
            elif self.items[item_id].state not in t.EXCEPTION_STATES:
                refusal = InvalidTransitionError
        if refusal is not None:
            before = self.snapshot()
            with pytest.raises(refusal):
                operate()
            assert before == self.snapshot(), "a refused batch changes nothing"
            return

        got = operate()

        now = self.now()
        stored_note = note.strip() if action == "resolve" else note
        assert distinct == [i.id for i in got]
        for item_id, item in zip(distinct, got, strict=True):
            expected = self.items[item_id]
            if to is S.NEW:
                expected.move(S.NEW, now)
                expected.attempts, expected.not_before = 0, None
                expected.finished_at = None
            else:
                expected.end(S.RESOLVED, now)
            assert expected.expected() == expected.observed(item)
            self.audit.append(("op", action, item_id, stored_note, now))

    @precondition(lambda self: self.in_state(*t.EXCEPTION_STATES))
    @rule(pick=picks)
    def retry_one_exception(self, pick: int) -> None:
        item = self.pick(self.in_state(*t.EXCEPTION_STATES), pick)
        self._operate(
            "retry",
            [item.id],
            "again",
            lambda: self.queue.retry([item.id], actor="op", note="again"),
            S.NEW,
        )

    @rule(
        action=st.sampled_from(["retry", "resolve"]),
        picked=st.lists(picks, min_size=1, max_size=3),
        missing=st.booleans(),
        note=st.sampled_from(["", "   ", " fixed by hand "]),
    )
    def operate_on_a_batch(
        self, action: str, picked: list[int], missing: bool, note: str
    ) -> None:
        """Any items, maybe repeated or missing: all change, or none does."""
        ids = self._batch(picked, missing)
        operation = getattr(self.queue, action)
        to = S.NEW if action == "retry" else S.RESOLVED
        self._operate(
            action, ids, note, lambda: operation(ids, actor="op", note=note), to
        )

    @precondition(lambda self: self.in_state(*t.EXCEPTION_STATES))
    @rule(pick=picks)
    def resolve_one_exception(self, pick: int) -> None:
        item = self.pick(self.in_state(*t.EXCEPTION_STATES), pick)
        self._operate(
            "resolve",
            [item.id],
            "done by hand",
            lambda: self.queue.resolve([item.id], actor="op", note="done by hand"),
            S.RESOLVED,
        )

    # Invariants -------------------------------------------------------------------

    @invariant()
    def items_match_the_model(self) -> None:
        stored = {i.id: i for i in self.queue.items()}
        assert sorted(self.items) == sorted(stored)
        for item_id, expected in self.items.items():
            assert expected.expected() == expected.observed(stored[item_id])

    @invariant()
    def only_items_in_progress_have_an_owner(self) -> None:
        for item in self.queue.items():
            leased = item.state is S.IN_PROGRESS
            assert leased == (item.lease_owner is not None), item
            assert leased == (item.lease_expires is not None), item
            assert (item.state in (S.NEW, S.IN_PROGRESS)) == (
                item.finished_at is None
            ), item

    @invariant()
    def counts_add_up_to_the_references(self) -> None:
        for robot in ROBOTS:
            counts = self.queue.counts(robot)
            references = {i.reference for i in self.items.values() if i.robot == robot}
            assert len(references) == sum(counts.values())
            assert {
                state: len([i for i in self.in_state(state) if i.robot == robot])
                for state in ItemState
            } == counts

    @invariant()
    def histories_are_consistent(self) -> None:
        for item in self.queue.items():
            history = self.queue.history(item.id)
            steps = [(h.from_state, h.to_state) for h in history]
            assert steps, f"item {item.id} has no history"
            assert steps[0][0] is None, "a history starts with the creation"
            assert all(before[1] == after[0] for before, after in pairwise(steps))
            assert item.state == steps[-1][1]
            assert set(steps) <= ALLOWED, f"item {item.id}: {steps}"
            assert item.claims == steps.count((S.NEW, S.IN_PROGRESS))
            assert 0 <= item.attempts <= item.claims
            assert all(h.item_id == item.id for h in history)
            expected = self.items[item.id].history
            assert expected == [(h.from_state, h.to_state, h.at) for h in history]

    @invariant()
    def audit_entries_are_the_operator_actions(self) -> None:
        entries = [
            (e.actor, e.action, e.item_id, e.note, e.at)
            for e in reversed(self.queue.audit_log())
        ]
        assert self.audit == entries


def test_queue_state_machine(fresh: Fresh) -> None:
    """Random operation sequences keep every rule of the queue contract."""

    class Machine(QueueMachine):
        pass

    Machine.fresh = fresh
    run_state_machine_as_test(Machine, settings=budget(fresh.kind))


# Two workers' claims ----------------------------------------------------------------

claim_steps = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), st.integers(0, 1)),
        st.tuples(st.just("extend"), st.integers(0, 1)),
        st.tuples(st.just("tick"), st.integers(1, 7)),
        st.tuples(st.just("recover"), st.just(0)),
    ),
    max_size=30,
)


def test_two_workers_never_hold_the_same_item(fresh: Fresh) -> None:
    """Interleaved claims of two workers (each through its own backend, as separate
    processes are) never give one item to both before its lease expires."""

    @budget(fresh.kind)
    @given(references=st.integers(1, 4), steps=claim_steps)
    def check(references: int, steps: list[tuple[str, int]]) -> None:
        clock = FakeClock(START)
        handles = fresh(clock, 2)
        handles[0].enqueue(ROBOTS[0], [NewItem(f"r{n}", {}) for n in range(references)])
        lease = timedelta(minutes=5)
        holder: dict[int, tuple[str, datetime]] = {}  # item id: owner, lease end
        last_lease_end: dict[int, datetime] = {}
        for action, n in steps:
            owner, queue = OWNERS[n % 2], handles[n % 2]  # n: minutes for a tick
            now = clock()
            if action == "claim":
                got = queue.claim_next(ROBOTS[0], owner=owner, lease=lease)
                if got is None:
                    assert len(holder) == references
                    continue
                assert got.id not in holder, f"item {got.id} given to two workers"
                assert last_lease_end.get(got.id, now) <= now, "lease not yet over"
                holder[got.id] = (owner, now + lease)
            elif action == "extend":
                mine = sorted(i for i, (o, _) in holder.items() if o == owner)
                for item_id in mine:  # LeaseLostError here would be a bug
                    queue.extend_lease(item_id, owner=owner, lease=lease)
                    holder[item_id] = (owner, now + lease)
            elif action == "tick":
                clock.now += timedelta(minutes=n)
            else:
                recovered = queue.recover_expired()
                expired = {i for i, (_, until) in holder.items() if until <= now}
                assert expired == {i.id for i in recovered}
                for item_id in expired:
                    last_lease_end[item_id] = holder.pop(item_id)[1]
            for item_id, (owner_, until) in holder.items():
                stored = handles[0].get(item_id)
                assert (S.IN_PROGRESS, owner_, until) == (
                    stored.state,
                    stored.lease_owner,
                    stored.lease_expires,
                )

    check()
