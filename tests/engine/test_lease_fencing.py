"""Lease fencing: no step of an item runs once its lease may be another worker's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from robotlib import ApplicationError, Context, RetryPolicy, Robot
from robotlib._lease import LeaseGuard, check, guarding
from robotlib.engine import Engine
from robotlib.errors import LeaseLostError
from robotlib.logs import Redactor
from robotlib.queue import InMemoryBackend
from robotlib.queue.models import ItemState, NewItem
from robotlib.settings import Settings
from robotlib.steps import step
from robotlib.testing import FakeClock

LEASE = timedelta(minutes=5)


class FakeMonotonic:
    """A monotonic clock in seconds that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def claimed(backend: InMemoryBackend, owner: str = "host:1:run") -> int:
    backend.enqueue("robot", [NewItem("a", {"n": 1})])
    item = backend.claim_next("robot", owner=owner, lease=LEASE)
    assert item is not None
    return item.id


def take_over(backend: InMemoryBackend, clock: FakeClock) -> None:
    """What another worker does once the lease ran out: recover and claim."""
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert backend.recover_expired() != []
    assert backend.claim_next("robot", owner="other:2:run", lease=LEASE) is not None


def test_a_check_with_over_a_third_of_the_lease_left_asks_no_database() -> None:
    clock, monotonic = FakeClock(), FakeMonotonic()
    backend = InMemoryBackend(clock=clock)
    item_id = claimed(backend)
    guard = LeaseGuard(backend, item_id, "host:1:run", LEASE, monotonic=monotonic)

    clock.advance(seconds=199)
    monotonic.advance(199)
    guard.check()

    assert FakeClock.START + LEASE == backend.get(item_id).lease_expires


def test_a_check_with_less_than_a_third_left_renews_the_lease() -> None:
    clock, monotonic = FakeClock(), FakeMonotonic()
    backend = InMemoryBackend(clock=clock)
    item_id = claimed(backend)
    guard = LeaseGuard(backend, item_id, "host:1:run", LEASE, monotonic=monotonic)

    clock.advance(seconds=201)
    monotonic.advance(201)
    guard.check()
    clock.advance(seconds=100)
    monotonic.advance(100)
    guard.check()  # renewed 100 s ago: nothing to do

    renewed = FakeClock.START + timedelta(seconds=201) + LEASE
    assert renewed == backend.get(item_id).lease_expires


@pytest.mark.parametrize("moved", ["monotonic", "wall"])
def test_a_worker_paused_past_its_lease_gets_lease_lost_for_good(moved: str) -> None:
    """Either clock moving past the lease counts (a machine asleep may stop the
    monotonic one); the queue refuses, and so does every check after."""
    clock, monotonic = FakeClock(), FakeMonotonic()
    backend = InMemoryBackend(clock=clock)
    item_id = claimed(backend)
    still = FakeClock()
    guard = LeaseGuard(
        backend,
        item_id,
        "host:1:run",
        LEASE,
        monotonic=monotonic,
        wall=clock if moved == "wall" else still,
    )

    take_over(backend, clock)
    if moved == "monotonic":
        monotonic.advance(LEASE.total_seconds() + 1)

    with pytest.raises(LeaseLostError, match=f"work item {item_id} is not leased"):
        guard.check()
    assert guard.lost
    with pytest.raises(LeaseLostError):
        guard.check()
    assert "other:2:run" == backend.get(item_id).lease_owner


def test_steps_outside_an_engine_run_are_not_checked() -> None:
    @step
    def add(a: int, b: int) -> int:
        return a + b

    check()
    assert 3 == add(1, 2)


def test_a_step_after_a_lost_lease_does_not_run() -> None:
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    item_id = claimed(backend)
    guard = LeaseGuard(backend, item_id, "host:1:run", LEASE)
    ran: list[str] = []

    @step
    def save() -> None:
        ran.append("save")

    take_over(backend, clock)
    with guarding(guard), pytest.raises(LeaseLostError):
        save()
    assert [] == ran


class Job(BaseModel):
    n: int


class Epj:
    """Registers rows; screenshots on demand."""

    name = "epj"

    def __init__(self) -> None:
        self.saved: list[int] = []
        self.screenshots = 0

    def screenshot(self, path: Path) -> Path:
        self.screenshots += 1
        path.write_bytes(b"\x89PNG fake")
        return path

    def close(self) -> None:
        pass


def fenced_run(
    settings: Settings, redactor: Redactor, *, wrap: bool
) -> tuple[InMemoryBackend, Epj, dict[str, int]]:
    """Run two items; while the first is processed, another worker takes it over.

    With ``wrap`` the robot turns the LeaseLostError into an ApplicationError.
    """
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    epj = Epj()

    @step
    def find(job: Job) -> None:
        pass

    @step
    def save(job: Job) -> None:
        epj.saved.append(job.n)

    def process(ctx: Context, job: Job) -> None:
        find(job)
        if job.n == 1:
            take_over_item(backend, clock, ctx)
        try:
            save(job)
        except LeaseLostError as exc:
            if wrap:
                raise ApplicationError("the EPJ did not answer") from exc
            raise

    robot = Robot(
        name="robot",
        item=Job,
        source=lambda path: [{"n": 1}, {"n": 2}],
        reference=["n"],
        setup=lambda ctx: ctx.open_application(epj),
        process=process,
        lease=LEASE,
        retry=RetryPolicy(attempts=3, backoff_s=(0,)),
    )
    engine = Engine(
        robot,
        settings=settings,
        backend=backend,
        redactor=redactor,
        sleep=lambda seconds: None,
    )
    return backend, epj, engine.run().counts


def take_over_item(backend: InMemoryBackend, clock: FakeClock, ctx: Context) -> None:
    assert ctx.item is not None
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert [ctx.item.id] == [i.id for i in backend.recover_expired()]
    taken = backend.claim_next("robot", owner="other:2:run", lease=LEASE)
    assert taken is not None and taken.id == ctx.item.id


@pytest.mark.parametrize("wrap", [False, True], ids=["raised", "wrapped"])
def test_the_engine_leaves_a_lost_item_to_its_new_owner_and_goes_on(
    settings: Settings, redactor: Redactor, wrap: bool
) -> None:
    backend, epj, counts = fenced_run(settings, redactor, wrap=wrap)

    first, second = sorted(backend.items("robot"), key=lambda i: i.id)
    assert {"lease_lost": 1, "done": 1} == counts
    assert [2] == epj.saved, "no save of the lost item"
    assert 0 == epj.screenshots
    assert (ItemState.IN_PROGRESS, "other:2:run") == (first.state, first.lease_owner)
    assert (None, None, ()) == (first.error_type, first.error_message, first.artifacts)
    assert [ItemState.NEW, ItemState.IN_PROGRESS] * 2 == [
        entry.to_state for entry in backend.history(first.id)
    ]
    assert ItemState.DONE == second.state


def test_a_lost_lease_blocks_the_engines_own_checks(
    settings: Settings, redactor: Redactor
) -> None:
    """A robot without steps: the check before complete stops the write."""
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)

    def process(ctx: Context, job: Job) -> None:
        take_over_item(backend, clock, ctx)

    robot = Robot(
        name="robot",
        item=Job,
        source=lambda path: [{"n": 1}],
        reference=["n"],
        process=process,
        lease=LEASE,
    )
    engine = Engine(robot, settings=settings, backend=backend, redactor=redactor)

    assert {"lease_lost": 1} == engine.run().counts
    [item] = backend.items("robot")
    assert (ItemState.IN_PROGRESS, "other:2:run") == (item.state, item.lease_owner)
