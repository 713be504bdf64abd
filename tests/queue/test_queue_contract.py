"""The contract every queue backend keeps (robotlib/queue/base.py), run on each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from robotlib.errors import (
    InvalidTransitionError,
    ItemNotFoundError,
    LeaseLostError,
    QueueError,
)
from robotlib.queue import (
    AuditEntry,
    EnqueueResult,
    Handoff,
    ItemState,
    NewItem,
    QueueBackend,
    RunStatus,
    WorkItem,
)
from robotlib.versions import CodeVersion

ROBOT = "lab_results"
LEASE = timedelta(minutes=5)

S = ItemState


def enqueue(backend: QueueBackend, *references: str, **fields: Any) -> EnqueueResult:
    """Enqueue one item per reference, each with the same extra fields."""
    return backend.enqueue(
        ROBOT, [NewItem(ref, {"ref": ref}, **fields) for ref in references]
    )


def claim(backend: QueueBackend, owner: str = "w1", **kwargs: Any) -> WorkItem:
    """Claim the next item, which the test knows is there."""
    item = backend.claim_next(ROBOT, owner=owner, lease=LEASE, **kwargs)
    assert item is not None
    return item


def claimed_one(backend: QueueBackend, reference: str = "r1") -> WorkItem:
    """Enqueue one item and claim it as worker w1."""
    enqueue(backend, reference)
    return claim(backend)


def in_state(backend: QueueBackend, state: ItemState) -> WorkItem:
    """Return an item brought into ``state`` by the worker's operations."""
    item = claimed_one(backend)
    if state is S.NEW:
        return backend.release(item.id, owner="w1", note="stop")
    if state is S.DONE:
        return backend.complete(item.id, owner="w1", output={})
    if state is S.FAILED:
        return backend.fail(
            item.id, owner="w1", error_type="Timeout", message="slow", retry_at=None
        )
    if state is S.BUSINESS_EXCEPTION:
        return backend.business_exception(
            item.id, owner="w1", error_type="UnknownPatient", message="no such CPR"
        )
    if state is S.RESOLVED:
        backend.business_exception(item.id, owner="w1", error_type="X", message="x")
        return backend.resolve([item.id], actor="op", note="done by hand")[0]
    return item


# Worker operations, each called as owner ``owner`` on item ``item_id``.
WORKER_OPS: dict[str, Callable[[QueueBackend, int, str], object]] = {
    "extend_lease": lambda b, i, o: b.extend_lease(i, owner=o, lease=LEASE),
    "finish_stage": lambda b, i, o: b.finish_stage(i, owner=o, stage="s", output={}),
    "complete": lambda b, i, o: b.complete(i, owner=o, output={}),
    "fail": lambda b, i, o: b.fail(
        i, owner=o, error_type="E", message="m", retry_at=None
    ),
    "business_exception": lambda b, i, o: b.business_exception(
        i, owner=o, error_type="E", message="m"
    ),
    "release": lambda b, i, o: b.release(i, owner=o, note="n"),
}

OPERATOR_OPS: dict[str, Callable[[QueueBackend, int], object]] = {
    "retry": lambda b, i: b.retry([i], actor="op", note="fixed"),
    "resolve": lambda b, i: b.resolve([i], actor="op", note="fixed"),
}


# Enqueue ------------------------------------------------------------------------------


def test_enqueue_counts_added_and_existing(backend: QueueBackend) -> None:
    """Enqueue adds new references and counts the known ones as existing."""
    first = enqueue(backend, "r1", "r2", "r3")
    second = enqueue(backend, "r2", "r3", "r4")

    assert EnqueueResult(added=3, existing=0) == first
    assert EnqueueResult(added=1, existing=2) == second
    assert ["r1", "r2", "r3", "r4"] == [i.reference for i in backend.items(ROBOT)]


def test_enqueue_same_reference_twice_adds_nothing(backend: QueueBackend) -> None:
    """Loading the same row twice adds nothing the second time."""
    enqueue(backend, "r1")

    assert EnqueueResult(added=0, existing=1) == enqueue(backend, "r1")
    assert 1 == len(backend.items(ROBOT))


def test_enqueue_repeated_reference_in_one_call_counts_once(
    backend: QueueBackend,
) -> None:
    """A reference repeated within one call is added once, the repeat existing."""
    assert EnqueueResult(added=1, existing=1) == enqueue(backend, "r1", "r1")


def test_enqueue_skips_known_reference_whatever_its_state(
    backend: QueueBackend,
) -> None:
    """A finished item's reference is still known: it is not enqueued again."""
    done = in_state(backend, S.DONE)

    assert EnqueueResult(added=0, existing=1) == enqueue(backend, done.reference)
    assert S.DONE == backend.get(done.id).state


def test_enqueue_references_are_unique_per_robot(backend: QueueBackend) -> None:
    """Two robots may each have an item with the same reference."""
    backend.enqueue("other_robot", [NewItem("r1", {})])

    assert EnqueueResult(added=1, existing=0) == enqueue(backend, "r1")


def test_enqueue_stores_the_new_item(backend: QueueBackend, clock: Any) -> None:
    """An enqueued item is new, unclaimed and carries its data and the run."""
    deadline = clock() + timedelta(days=1)
    backend.enqueue(
        ROBOT,
        [NewItem("r1", {"cpr": "010190-1234", "values": [1, 2]}, 3, None, deadline)],
        run_id="load-run",
    )

    item = backend.items(ROBOT)[0]
    assert (ROBOT, "r1", S.NEW, 3, deadline, None) == (
        item.robot,
        item.reference,
        item.state,
        item.priority,
        item.deadline,
        item.not_before,
    )
    assert {"cpr": "010190-1234", "values": [1, 2]} == item.payload
    assert (0, 0, (), None, None) == (
        item.attempts,
        item.claims,
        item.finished_stages,
        item.lease_owner,
        item.started_at,
    )
    assert (clock(), "load-run", {}, ()) == (
        item.created_at,
        item.run_id,
        item.output,
        item.artifacts,
    )


def test_enqueue_rejected_item_is_a_business_exception(
    backend: QueueBackend, clock: Any
) -> None:
    """A rejected row is stored as a business exception with its reason."""
    backend.enqueue(ROBOT, [NewItem("bad", {}, rejected="CPR-nummer is not valid")])

    item = backend.items(ROBOT)[0]
    assert (S.BUSINESS_EXCEPTION, "InvalidInput", "CPR-nummer is not valid") == (
        item.state,
        item.error_type,
        item.error_message,
    )
    assert clock() == item.finished_at
    assert [(None, S.BUSINESS_EXCEPTION)] == [
        (h.from_state, h.to_state) for h in backend.history(item.id)
    ]


def test_enqueue_many_items_at_once(backend: QueueBackend) -> None:
    """Enqueueing more items than one look-up chunk finds every known reference."""
    references = [f"row-{n}" for n in range(1_200)]
    enqueue(backend, *references)

    again = enqueue(backend, *references, "row-new")

    assert EnqueueResult(added=1, existing=1_200) == again
    assert 1_201 == backend.counts(ROBOT)[S.NEW]


def test_enqueue_refuses_naive_datetimes(backend: QueueBackend) -> None:
    """A datetime without a time zone is refused rather than guessed."""
    with pytest.raises(ValueError, match="timezone-aware"):
        enqueue(backend, "r1", not_before=datetime(2026, 3, 1, 12, 0))


@pytest.mark.parametrize(
    "payload",
    [
        {"taken": datetime(2026, 3, 1, tzinfo=UTC)},
        {"codes": {"NPU02319"}},
        {"v": float("nan")},
    ],
    ids=["datetime", "set", "nan"],
)
def test_enqueue_refuses_what_json_cannot_hold(
    backend: QueueBackend, payload: dict[str, Any]
) -> None:
    """A payload that is not JSON data is refused, and nothing of the batch is added."""
    with pytest.raises(ValueError, match="payload must be JSON data"):
        backend.enqueue(ROBOT, [NewItem("good", {}), NewItem("bad", payload)])
    assert [] == backend.items()


def test_enqueue_with_nothing_to_add(backend: QueueBackend) -> None:
    """Enqueueing no items adds nothing."""
    assert EnqueueResult(added=0, existing=0) == backend.enqueue(ROBOT, [])


def test_payload_and_output_come_back_as_json(backend: QueueBackend) -> None:
    """Payload and output come back as JSON gives them: lists, and string keys."""
    backend.enqueue(ROBOT, [NewItem("r1", {"pair": (1, 2), "nested": {"x": None}})])
    item = claim(backend)

    done = backend.complete(item.id, owner="w1", output={"by_row": {3: "ok"}})

    assert {"pair": [1, 2], "nested": {"x": None}} == backend.get(item.id).payload
    assert {"by_row": {"3": "ok"}} == done.output
    assert done == backend.get(item.id)


def test_output_must_be_json_data(backend: QueueBackend) -> None:
    """An output that is not JSON data is refused and the item stays as it was."""
    item = claimed_one(backend)

    with pytest.raises(ValueError, match="output must be JSON data"):
        backend.complete(item.id, owner="w1", output={"at": datetime.now(UTC)})
    assert item == backend.get(item.id)


def test_stored_data_cannot_be_changed_through_dicts(backend: QueueBackend) -> None:
    """Changing a dict passed in or returned does not change the stored item."""
    payload: dict[str, Any] = {"values": [1]}
    backend.enqueue(ROBOT, [NewItem("r1", payload)])
    payload["values"].append(2)
    item = claim(backend)
    item.payload["values"].append(3)
    output: dict[str, Any] = {"ids": [7]}
    backend.finish_stage(item.id, owner="w1", stage="a", output=output)
    output["ids"].append(8)
    backend.get(item.id).output["ids"].append(9)

    stored = backend.get(item.id)
    assert ({"values": [1]}, {"ids": [7]}) == (stored.payload, stored.output)


# Claim --------------------------------------------------------------------------------


def test_claim_returns_none_when_nothing_is_due(backend: QueueBackend) -> None:
    """An empty queue gives no item."""
    assert None is backend.claim_next(ROBOT, owner="w1", lease=LEASE)


def test_claim_order_is_priority_then_deadline_then_id(
    backend: QueueBackend, clock: Any
) -> None:
    """Highest priority first, then earliest deadline (none last), then lowest id."""
    soon, later = clock() + timedelta(hours=1), clock() + timedelta(hours=2)
    backend.enqueue(
        ROBOT,
        [
            NewItem("low", {}, priority=0),
            NewItem("no-deadline", {}, priority=5),
            NewItem("later", {}, priority=5, deadline=later),
            NewItem("soon", {}, priority=5, deadline=soon),
            NewItem("soon-2", {}, priority=5, deadline=soon),
            NewItem("low-2", {}, priority=0),
            NewItem("high", {}, priority=9),
        ],
    )

    order = [claim(backend).reference for _ in range(7)]

    expected = ["high", "soon", "soon-2", "later", "no-deadline", "low", "low-2"]
    assert expected == order


def test_claim_waits_for_not_before(backend: QueueBackend, clock: Any) -> None:
    """An item is not claimed before its not_before time."""
    enqueue(backend, "r1", not_before=clock() + timedelta(minutes=10))

    early = backend.claim_next(ROBOT, owner="w1", lease=LEASE)
    clock.advance(timedelta(minutes=10))

    assert None is early
    assert "r1" == claim(backend).reference


def test_claim_of_one_item_takes_that_item_only_when_due(
    backend: QueueBackend, clock: Any
) -> None:
    """claim_next(item_id=...) (rpa run --item): that item, not the first in order,
    and nothing when it is not due, taken, or another robot's."""
    enqueue(backend, "first", "second")
    enqueue(backend, "later", not_before=clock() + timedelta(minutes=10))
    ids = {item.reference: item.id for item in backend.items(ROBOT)}

    second = claim(backend, item_id=ids["second"])
    assert "second" == second.reference
    assert None is backend.claim_next(
        ROBOT, owner="w2", lease=LEASE, item_id=ids["second"]
    )
    assert None is backend.claim_next(
        ROBOT, owner="w1", lease=LEASE, item_id=ids["later"]
    )
    assert None is backend.claim_next(
        "other_robot", owner="w1", lease=LEASE, item_id=ids["first"]
    )
    clock.advance(timedelta(minutes=10))
    assert "later" == claim(backend, item_id=ids["later"]).reference
    assert [S.NEW] == [i.state for i in backend.items(ROBOT) if i.reference == "first"]


def test_claim_leases_the_item(backend: QueueBackend, clock: Any) -> None:
    """A claim sets in_progress, counts an attempt and a claim and leases the item."""
    enqueue(backend, "r1")

    item = claim(backend, owner="w1", run_id="run-1")

    assert (S.IN_PROGRESS, 1, 1) == (item.state, item.attempts, item.claims)
    assert ("w1", clock() + LEASE) == (item.lease_owner, item.lease_expires)
    assert (clock(), "run-1") == (item.started_at, item.run_id)
    assert item == backend.get(item.id)


def test_claim_takes_each_item_once(backend: QueueBackend) -> None:
    """A claimed item is not handed to a second worker."""
    enqueue(backend, "r1")
    claim(backend, owner="w1")

    assert None is backend.claim_next(ROBOT, owner="w2", lease=LEASE)


def test_claim_takes_only_the_robots_items(backend: QueueBackend) -> None:
    """A worker of one robot never gets another robot's item."""
    backend.enqueue("other_robot", [NewItem("r1", {})])

    assert None is backend.claim_next(ROBOT, owner="w1", lease=LEASE)


def test_started_at_is_stamped_on_the_first_claim_only(
    backend: QueueBackend, clock: Any
) -> None:
    """A second claim keeps started_at and counts a second claim."""
    first = claimed_one(backend)
    backend.fail(first.id, owner="w1", error_type="E", message="m", retry_at=clock())
    clock.advance(timedelta(minutes=1))

    second = claim(backend)

    assert (first.started_at, 2, 2) == (
        second.started_at,
        second.attempts,
        second.claims,
    )


# Worker operations --------------------------------------------------------------------


@pytest.mark.parametrize("operation", WORKER_OPS)
def test_worker_operation_needs_the_lease(
    backend: QueueBackend, operation: str
) -> None:
    """An item leased to another owner raises LeaseLostError and is unchanged."""
    item = claimed_one(backend)

    with pytest.raises(LeaseLostError):
        WORKER_OPS[operation](backend, item.id, "w2")
    assert item == backend.get(item.id)


@pytest.mark.parametrize("state", [S.NEW, S.DONE, S.FAILED, S.BUSINESS_EXCEPTION])
@pytest.mark.parametrize("operation", WORKER_OPS)
def test_worker_operation_needs_an_item_in_progress(
    backend: QueueBackend, operation: str, state: ItemState
) -> None:
    """An item not in progress raises LeaseLostError, even for its last owner."""
    item = in_state(backend, state)

    with pytest.raises(LeaseLostError):
        WORKER_OPS[operation](backend, item.id, "w1")
    assert item == backend.get(item.id)


@pytest.mark.parametrize("operation", WORKER_OPS)
def test_worker_operation_on_a_missing_item(
    backend: QueueBackend, operation: str
) -> None:
    """An unknown item id raises ItemNotFoundError."""
    with pytest.raises(ItemNotFoundError):
        WORKER_OPS[operation](backend, 404, "w1")


def test_extend_lease_moves_the_expiry(backend: QueueBackend, clock: Any) -> None:
    """Extending a lease sets its expiry to now plus the new lease."""
    item = claimed_one(backend)
    clock.advance(timedelta(minutes=4))

    extended = backend.extend_lease(item.id, owner="w1", lease=timedelta(minutes=10))

    assert clock() + timedelta(minutes=10) == extended.lease_expires
    assert extended == backend.get(item.id)


def test_finish_stage_accumulates_stages_and_output(backend: QueueBackend) -> None:
    """Finished stages accumulate once each, outputs merge, the item stays leased."""
    item = claimed_one(backend)

    backend.finish_stage(item.id, owner="w1", stage="search", output={"a": 1, "b": 1})
    backend.finish_stage(item.id, owner="w1", stage="register", output={"b": 2})
    last = backend.finish_stage(item.id, owner="w1", stage="register", output={})

    assert ("search", "register") == last.finished_stages
    assert ({"ref": "r1"}, {"a": 1, "b": 2}) == (last.payload, last.output)
    assert (S.IN_PROGRESS, "w1") == (last.state, last.lease_owner)
    assert 2 == len(backend.history(item.id))


def test_complete_merges_output_and_finishes(backend: QueueBackend, clock: Any) -> None:
    """Complete ends the item done with merged output, finished_at and no lease."""
    item = claimed_one(backend)
    backend.finish_stage(item.id, owner="w1", stage="search", output={"a": 1})
    clock.advance(timedelta(seconds=30))

    done = backend.complete(item.id, owner="w1", output={"b": 2}, note="registered")

    assert (S.DONE, {"a": 1, "b": 2}) == (done.state, done.output)
    assert (clock(), None, None) == (
        done.finished_at,
        done.lease_owner,
        done.lease_expires,
    )
    assert "registered" == backend.history(item.id)[-1].note
    assert done == backend.get(item.id)


def test_complete_hands_items_off_in_the_same_transaction(
    backend: QueueBackend,
) -> None:
    """A hand-off becomes a new item of its robot, parent_id the completed item,
    created in its run; its history says where it came from."""
    item = claimed_one(backend)
    letter = Handoff("letters", NewItem("r1-letter", {"to": "GP"}, priority=5))

    backend.complete(item.id, owner="w1", output={}, handoffs=[letter])

    [child] = backend.items("letters")
    assert (S.NEW, item.id, item.run_id, 5, {"to": "GP"}) == (
        child.state,
        child.parent_id,
        child.run_id,
        child.priority,
        child.payload,
    )
    assert [(None, S.NEW, f"from item {item.id}")] == [
        (h.from_state, h.to_state, h.note) for h in backend.history(child.id)
    ]
    assert None is backend.get(item.id).parent_id


def test_a_child_already_there_is_not_handed_off_again(backend: QueueBackend) -> None:
    """Two parents handing off one reference make one child (the first's)."""
    backend.enqueue(ROBOT, [NewItem("r1", {}), NewItem("r2", {})])
    letter = Handoff("letters", NewItem("letter", {}))
    for _ in range(2):
        parent = claim(backend)
        backend.complete(parent.id, owner="w1", output={}, handoffs=[letter])

    [child] = backend.items("letters")
    assert backend.items(ROBOT)[0].id == child.parent_id


def test_a_completion_that_fails_hands_nothing_off(backend: QueueBackend) -> None:
    """A lost lease, or a child that cannot be stored: the parent stays in progress
    and no child exists (never a child without its parent done)."""
    item = claimed_one(backend)
    letter = Handoff("letters", NewItem("letter", {}))
    bad = Handoff("letters", NewItem("bad", {"when": object()}))

    with pytest.raises(LeaseLostError):
        backend.complete(item.id, owner="w2", output={}, handoffs=[letter])
    with pytest.raises(ValueError, match="payload"):
        backend.complete(item.id, owner="w1", output={}, handoffs=[letter, bad])

    assert (S.IN_PROGRESS, []) == (backend.get(item.id).state, backend.items("letters"))


def test_fail_with_retry_at_returns_the_item_to_new(
    backend: QueueBackend, clock: Any
) -> None:
    """A failure with retry_at makes the item new again, due at retry_at."""
    item = claimed_one(backend)
    retry_at = clock() + timedelta(minutes=15)

    failed = backend.fail(
        item.id,
        owner="w1",
        error_type="TargetSystemError",
        message="HTTP 500",
        retry_at=retry_at,
        artifacts=["shot-1.png"],
    )

    assert (S.NEW, retry_at, 1, None) == (
        failed.state,
        failed.not_before,
        failed.attempts,
        failed.lease_owner,
    )
    assert ("TargetSystemError", "HTTP 500", ("shot-1.png",)) == (
        failed.error_type,
        failed.error_message,
        failed.artifacts,
    )
    assert None is backend.claim_next(ROBOT, owner="w1", lease=LEASE)
    clock.advance(timedelta(minutes=15))
    assert 2 == claim(backend).attempts


def test_fail_without_retry_at_ends_failed(backend: QueueBackend, clock: Any) -> None:
    """A failure without retry_at ends the item failed, artifacts accumulating."""
    item = claimed_one(backend)
    backend.fail(
        item.id,
        owner="w1",
        error_type="E",
        message="m",
        retry_at=clock(),
        artifacts=["a.png"],
    )
    claim(backend)

    failed = backend.fail(
        item.id,
        owner="w1",
        error_type="StepTimeoutError",
        message="no form",
        retry_at=None,
        artifacts=["b.png", "b.zip"],
    )

    assert (S.FAILED, clock(), "StepTimeoutError") == (
        failed.state,
        failed.finished_at,
        failed.error_type,
    )
    assert ("a.png", "b.png", "b.zip") == failed.artifacts


def test_business_exception_ends_the_item(backend: QueueBackend, clock: Any) -> None:
    """A business exception ends the item with its reason, for a person."""
    item = claimed_one(backend)

    excepted = backend.business_exception(
        item.id,
        owner="w1",
        error_type="UnknownPatient",
        message="no patient with that CPR",
        artifacts=["shot.png"],
    )

    assert (S.BUSINESS_EXCEPTION, clock(), None) == (
        excepted.state,
        excepted.finished_at,
        excepted.lease_owner,
    )
    assert ("UnknownPatient", "no patient with that CPR", ("shot.png",)) == (
        excepted.error_type,
        excepted.error_message,
        excepted.artifacts,
    )


def test_release_gives_the_attempt_back(backend: QueueBackend) -> None:
    """A released item is new again, its attempt uncounted but its claim kept."""
    item = claimed_one(backend)

    released = backend.release(item.id, owner="w1", note="stopped by operator")

    assert (S.NEW, 0, 1, None, None) == (
        released.state,
        released.attempts,
        released.claims,
        released.lease_owner,
        released.lease_expires,
    )
    assert "stopped by operator" == backend.history(item.id)[-1].note
    assert item.id == claim(backend).id


def test_recover_expired_takes_only_expired_leases(
    backend: QueueBackend, clock: Any
) -> None:
    """Only items whose lease has expired return to new; attempts stay counted."""
    enqueue(backend, "short", "long")
    short = backend.claim_next(ROBOT, owner="w1", lease=timedelta(minutes=1))
    long = backend.claim_next(ROBOT, owner="w2", lease=timedelta(minutes=30))
    assert short is not None and long is not None
    clock.advance(timedelta(minutes=2))

    recovered = backend.recover_expired()

    assert [(short.id, S.NEW, 1, 1, None)] == [
        (i.id, i.state, i.attempts, i.claims, i.lease_owner) for i in recovered
    ]
    assert S.IN_PROGRESS == backend.get(long.id).state
    assert (S.IN_PROGRESS, S.NEW, None) == (
        backend.history(short.id)[-1].from_state,
        backend.history(short.id)[-1].to_state,
        backend.history(short.id)[-1].run_id,
    )


def test_recover_expired_filters_by_robot(backend: QueueBackend, clock: Any) -> None:
    """Recovery for one robot leaves another robot's expired items alone."""
    backend.enqueue("other_robot", [NewItem("o1", {})])
    backend.claim_next("other_robot", owner="w9", lease=LEASE)
    mine = claimed_one(backend)
    clock.advance(LEASE)

    recovered = backend.recover_expired(ROBOT)

    assert [mine.id] == [i.id for i in recovered]
    assert 1 == backend.counts("other_robot")[S.IN_PROGRESS]


def test_recovered_item_is_lost_to_its_old_owner(
    backend: QueueBackend, clock: Any
) -> None:
    """After recovery the worker whose lease expired can no longer complete it."""
    item = claimed_one(backend)
    clock.advance(LEASE)
    backend.recover_expired()
    claim(backend, owner="w2")

    with pytest.raises(LeaseLostError):
        backend.complete(item.id, owner="w1", output={})


def test_recover_run_returns_only_that_runs_items_at_once(
    backend: QueueBackend,
) -> None:
    """A dead run's items go back to new before any lease expires; others stay."""
    enqueue(backend, "a", "b", "c")
    dead = backend.claim_next(ROBOT, owner="h:1:r1", lease=LEASE, run_id="r1")
    alive = backend.claim_next(ROBOT, owner="h:2:r2", lease=LEASE, run_id="r2")
    assert dead is not None and alive is not None

    recovered = backend.recover_run("r1", note="worker r1 died (SIGKILL)")

    assert [(dead.id, S.NEW, 1, 1, None)] == [
        (i.id, i.state, i.attempts, i.claims, i.lease_owner) for i in recovered
    ]
    assert "worker r1 died (SIGKILL)" == backend.history(dead.id)[-1].note
    assert S.IN_PROGRESS == backend.get(alive.id).state
    assert [] == backend.recover_run("r1", note="again")
    with pytest.raises(LeaseLostError):
        backend.complete(dead.id, owner="h:1:r1", output={})


# Operator operations ------------------------------------------------------------------


@pytest.mark.parametrize("state", [S.BUSINESS_EXCEPTION, S.FAILED])
def test_retry_resets_attempts_but_not_claims(
    backend: QueueBackend, clock: Any, state: ItemState
) -> None:
    """Retry makes an exception item new with attempts 0; claims stay counted."""
    item = in_state(backend, state)

    [retried] = backend.retry([item.id], actor="nurse.b", note="CPR corrected")

    assert (S.NEW, 0, 1, None) == (
        retried.state,
        retried.attempts,
        retried.claims,
        retried.finished_at,
    )
    assert [AuditEntry(1, clock(), "nurse.b", "retry", item.id, "CPR corrected")] == (
        backend.audit_log()
    )
    assert 2 == claim(backend).claims


@pytest.mark.parametrize("state", [S.BUSINESS_EXCEPTION, S.FAILED])
def test_correct_replaces_the_payload_and_retries(
    backend: QueueBackend, clock: Any, state: ItemState
) -> None:
    """Correct gives an exception item a new payload, clears its error and makes it
    new with attempts 0, audited and in the history with the loading run."""
    item = in_state(backend, state)
    clock.advance(timedelta(hours=8))
    note = "corrected by input lab.xlsx: value '99' → '9.9'"

    corrected = backend.correct(
        item.id,
        payload={"ref": "r1", "value": "9.9"},
        actor="input:lab.xlsx",
        note=note,
        run_id="run-2",
    )

    assert (S.NEW, 0, 1, None, None, None, {"ref": "r1", "value": "9.9"}) == (
        corrected.state,
        corrected.attempts,
        corrected.claims,
        corrected.finished_at,
        corrected.error_type,
        corrected.error_message,
        corrected.payload,
    )
    assert corrected == backend.get(item.id)
    last = backend.history(item.id)[-1]
    assert (state, S.NEW, "run-2", note) == (
        last.from_state,
        last.to_state,
        last.run_id,
        last.note,
    )
    entry = AuditEntry(1, clock(), "input:lab.xlsx", "correct", item.id, note)
    assert [entry] == backend.audit_log()
    assert {"ref": "r1", "value": "9.9"} == claim(backend).payload


@pytest.mark.parametrize("state", [S.NEW, S.IN_PROGRESS, S.DONE, S.RESOLVED])
def test_correct_needs_an_exception_item(
    backend: QueueBackend, state: ItemState
) -> None:
    """Correct refuses an item that is not an exception and changes nothing."""
    item = in_state(backend, state)
    audited = backend.audit_log()

    with pytest.raises(InvalidTransitionError) as raised:
        backend.correct(item.id, payload={"ref": "x"}, actor="op", note="fix")
    assert (item.id, state) == (raised.value.item_id, raised.value.state)
    assert (item, audited) == (backend.get(item.id), backend.audit_log())


@pytest.mark.parametrize(
    ("payload", "note", "error"),
    [
        ({"ref": "x"}, "  ", "note is required to correct"),
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "fix", "payload must be JSON"),
    ],
)
def test_correct_needs_a_note_and_json_data(
    backend: QueueBackend, payload: dict[str, Any], note: str, error: str
) -> None:
    """A blank note or a payload JSON cannot hold raises ValueError; nothing changes."""
    item = in_state(backend, S.FAILED)

    with pytest.raises(ValueError, match=error):
        backend.correct(item.id, payload=payload, actor="op", note=note)
    assert (item, []) == (backend.get(item.id), backend.audit_log())


def test_correct_a_missing_item(backend: QueueBackend) -> None:
    """Correcting an unknown item raises ItemNotFoundError."""
    with pytest.raises(ItemNotFoundError):
        backend.correct(404, payload={}, actor="op", note="fix")


@pytest.mark.parametrize("state", [S.BUSINESS_EXCEPTION, S.FAILED])
def test_resolve_closes_with_an_audited_note(
    backend: QueueBackend, clock: Any, state: ItemState
) -> None:
    """Resolve closes an exception item as resolved, audited with its note."""
    item = in_state(backend, state)
    clock.advance(timedelta(hours=8))

    [resolved] = backend.resolve([item.id], actor="nurse.b", note="entered by hand")

    assert (S.RESOLVED, clock()) == (resolved.state, resolved.finished_at)
    entry = AuditEntry(1, clock(), "nurse.b", "resolve", item.id, "entered by hand")
    assert [entry] == backend.audit_log(item_id=item.id)
    assert "entered by hand" == backend.history(item.id)[-1].note


def test_audit_entries_without_an_item_are_recorded_and_filtered(
    backend: QueueBackend, clock: Any
) -> None:
    """record_audit keeps actions that change no item (a login, a paused
    schedule) beside item actions; the log filters by actor and action."""
    item = in_state(backend, S.FAILED)
    login = backend.record_audit(actor="nurse.b", action="login", note="from 10.0.0.7")
    clock.advance(timedelta(minutes=1))
    backend.retry([item.id], actor="nurse.b", note="CPR corrected")
    paused = backend.record_audit(
        actor="admin", action="schedule_pause", note="lab_nightly: EPJ upgrade"
    )

    assert login == AuditEntry(1, login.at, "nurse.b", "login", None, "from 10.0.0.7")
    assert ["schedule_pause", "retry", "login"] == [
        e.action for e in backend.audit_log()
    ]
    assert ["retry", "login"] == [e.action for e in backend.audit_log(actor="nurse.b")]
    assert [paused] == backend.audit_log(action="schedule_pause")
    assert [login] == backend.audit_log(actor="nurse.b", action="login", limit=5)


@pytest.mark.parametrize("note", ["", "   "])
def test_resolve_needs_a_note(backend: QueueBackend, note: str) -> None:
    """Resolving without a note raises ValueError and changes nothing."""
    item = in_state(backend, S.BUSINESS_EXCEPTION)

    with pytest.raises(ValueError, match="note is required"):
        backend.resolve([item.id], actor="op", note=note)
    assert (item, []) == (backend.get(item.id), backend.audit_log())


@pytest.mark.parametrize("state", [S.NEW, S.IN_PROGRESS, S.DONE, S.RESOLVED])
@pytest.mark.parametrize("operation", OPERATOR_OPS)
def test_operator_operation_needs_an_exception_item(
    backend: QueueBackend, operation: str, state: ItemState
) -> None:
    """Retry and resolve refuse items that are not exceptions, with no audit entry."""
    item = in_state(backend, state)
    audited = backend.audit_log()

    with pytest.raises(InvalidTransitionError) as raised:
        OPERATOR_OPS[operation](backend, item.id)
    assert (item.id, state) == (raised.value.item_id, raised.value.state)
    assert (item, audited) == (backend.get(item.id), backend.audit_log())


@pytest.mark.parametrize("operation", OPERATOR_OPS)
def test_operator_operation_is_all_or_nothing(
    backend: QueueBackend, operation: str
) -> None:
    """When one item of a batch cannot be changed, none is."""
    excepted = in_state(backend, S.BUSINESS_EXCEPTION)

    with pytest.raises(ItemNotFoundError):
        getattr(backend, operation)([excepted.id, 404], actor="op", note="n")
    assert (excepted, []) == (backend.get(excepted.id), backend.audit_log())


def test_operator_operations_take_several_items(backend: QueueBackend) -> None:
    """One retry call changes each listed item and audits each."""
    enqueue(backend, "r1", "r2")
    for _ in range(2):
        item = claim(backend)
        backend.business_exception(item.id, owner="w1", error_type="E", message="m")

    retried = backend.retry([1, 2, 2], actor="op", note="")

    assert [(1, S.NEW), (2, S.NEW)] == [(i.id, i.state) for i in retried]
    assert [2, 1] == [entry.item_id for entry in backend.audit_log()]


# Reading ------------------------------------------------------------------------------


def test_get_a_missing_item(backend: QueueBackend) -> None:
    """Getting an unknown id raises ItemNotFoundError, a KeyError too."""
    with pytest.raises(ItemNotFoundError) as raised:
        backend.get(404)
    assert (404, True) == (raised.value.item_id, isinstance(raised.value, KeyError))


def test_items_filter_and_limit(backend: QueueBackend) -> None:
    """Items can be filtered by robot, states, reference and run, oldest first."""
    backend.enqueue(ROBOT, [NewItem("a", {}), NewItem("b", {})], run_id="load-1")
    backend.enqueue(ROBOT, [NewItem("c", {})], run_id="load-2")
    backend.enqueue("other_robot", [NewItem("a", {})])
    claim(backend)

    def refs(**filters: Any) -> list[str]:
        return [f"{i.robot}/{i.reference}" for i in backend.items(**filters)]

    assert 4 == len(refs())
    assert [f"{ROBOT}/b", f"{ROBOT}/c"] == refs(robot=ROBOT, states=[S.NEW])
    assert [f"{ROBOT}/a", "other_robot/a"] == refs(reference="a")
    assert [f"{ROBOT}/c"] == refs(run_id="load-2")
    assert [f"{ROBOT}/a", f"{ROBOT}/b"] == refs(robot=ROBOT, limit=2)
    assert [] == refs(states=[])


def test_counts_have_every_state(backend: QueueBackend) -> None:
    """Counts name every state, zeros included, optionally for one run only."""
    backend.enqueue(ROBOT, [NewItem("a", {}), NewItem("b", {})], run_id="load-1")
    backend.enqueue(ROBOT, [NewItem("c", {}, rejected="bad")], run_id="load-2")
    claim(backend, run_id="load-1")

    zeros = dict.fromkeys(ItemState, 0)
    assert {**zeros, S.NEW: 1, S.IN_PROGRESS: 1, S.BUSINESS_EXCEPTION: 1} == (
        backend.counts(ROBOT)
    )
    assert {**zeros, S.NEW: 1, S.IN_PROGRESS: 1} == backend.counts(
        ROBOT, run_id="load-1"
    )
    assert zeros == backend.counts("no_such_robot")


def test_history_records_each_transition(backend: QueueBackend, clock: Any) -> None:
    """Each state change is recorded with its states, time and run id."""
    backend.enqueue(ROBOT, [NewItem("r1", {})], run_id="load")
    item = claim(backend, run_id="run-1")
    backend.fail(item.id, owner="w1", error_type="E", message="m", retry_at=None)
    backend.retry([item.id], actor="op", note="again")
    clock.advance(timedelta(minutes=1))
    claim(backend, run_id="run-2")
    backend.complete(item.id, owner="w1", output={})

    history = [
        (h.item_id, h.from_state, h.to_state, h.run_id)
        for h in backend.history(item.id)
    ]

    assert [
        (item.id, None, S.NEW, "load"),
        (item.id, S.NEW, S.IN_PROGRESS, "run-1"),
        (item.id, S.IN_PROGRESS, S.FAILED, "run-1"),
        (item.id, S.FAILED, S.NEW, None),
        (item.id, S.NEW, S.IN_PROGRESS, "run-2"),
        (item.id, S.IN_PROGRESS, S.DONE, "run-2"),
    ] == history
    assert clock() == backend.history(item.id)[-1].at


def test_history_of_a_missing_item(backend: QueueBackend) -> None:
    """The history of an unknown id raises ItemNotFoundError."""
    with pytest.raises(ItemNotFoundError):
        backend.history(404)


def test_datetimes_come_back_as_the_same_instant_in_utc(backend: QueueBackend) -> None:
    """A deadline given in another time zone comes back as the same instant, in UTC."""
    copenhagen_summer = timezone(timedelta(hours=2))
    deadline = datetime(2026, 7, 1, 8, 30, tzinfo=copenhagen_summer)
    enqueue(backend, "r1", deadline=deadline)

    stored = backend.items(ROBOT)[0].deadline

    assert (deadline, UTC) == (stored, stored.tzinfo if stored else None)


# Runs ---------------------------------------------------------------------------------


def test_run_start_finish_and_get(backend: QueueBackend, clock: Any) -> None:
    """A run records its start, then how it ended."""
    started = backend.start_run("run-1", ROBOT, host="vm-rpa-01", pid=4242)
    clock.advance(timedelta(minutes=3))
    finished = backend.finish_run(
        "run-1", status=RunStatus.COMPLETED, counts={"done": 3}, note="ok"
    )

    assert (RunStatus.RUNNING, None, "vm-rpa-01", 4242) == (
        started.status,
        started.finished_at,
        started.host,
        started.pid,
    )
    assert (RunStatus.COMPLETED, clock(), {"done": 3}, "ok") == (
        finished.status,
        finished.finished_at,
        finished.counts,
        finished.note,
    )
    assert finished == backend.get_run("run-1")


def test_a_run_records_the_code_it_ran(backend: QueueBackend) -> None:
    """robotlib's version, the robot file's hash and the commit are kept; a run
    started without them has "" in each."""
    code = CodeVersion("0.1.0", "ab" * 32, "c" * 40)
    backend.start_run("run-1", ROBOT, host="h", pid=1, version=code)
    backend.start_run("run-2", ROBOT, host="h", pid=1)
    backend.finish_run("run-1", status=RunStatus.COMPLETED, counts={})

    assert code == backend.get_run("run-1").code
    assert CodeVersion() == backend.get_run("run-2").code


def test_runs_are_listed_newest_first(backend: QueueBackend, clock: Any) -> None:
    """Runs list newest first, filtered by robot and limited."""
    for run_id, robot in [("a", ROBOT), ("b", "other_robot"), ("c", ROBOT)]:
        backend.start_run(run_id, robot, host="h", pid=1)
        clock.advance(timedelta(hours=1))

    assert ["c", "b", "a"] == [run.id for run in backend.runs()]
    assert ["c", "a"] == [run.id for run in backend.runs(ROBOT)]
    assert ["c"] == [run.id for run in backend.runs(limit=1)]


def test_missing_run_raises_key_error(backend: QueueBackend) -> None:
    """Getting or finishing an unknown run raises KeyError."""
    with pytest.raises(KeyError):
        backend.get_run("nope")
    with pytest.raises(KeyError):
        backend.finish_run("nope", status=RunStatus.CRASHED, counts={})


def test_run_ids_are_unique(backend: QueueBackend) -> None:
    """Starting a run with a known id raises QueueError."""
    backend.start_run("run-1", ROBOT, host="h", pid=1)

    with pytest.raises(QueueError, match="run-1"):
        backend.start_run("run-1", ROBOT, host="h", pid=2)


# Audit and retention ------------------------------------------------------------------


def test_audit_log_is_newest_first_and_filtered(backend: QueueBackend) -> None:
    """Audit entries list newest first, by item, limited."""
    enqueue(backend, "r1", "r2")
    for _ in range(2):
        item = claim(backend)
        backend.business_exception(item.id, owner="w1", error_type="E", message="m")
    backend.retry([1], actor="op", note="one")
    backend.business_exception(
        claim(backend).id, owner="w1", error_type="E", message="m"
    )
    backend.resolve([2], actor="op", note="two")
    backend.resolve([1], actor="op", note="three")

    assert ["three", "two", "one"] == [e.note for e in backend.audit_log()]
    assert ["three", "one"] == [e.note for e in backend.audit_log(item_id=1)]
    assert ["three"] == [e.note for e in backend.audit_log(limit=1)]


def test_audit_log_since_keeps_entries_at_or_after_it(
    backend: QueueBackend, clock: Any
) -> None:
    """since= keeps entries at or after the moment, in any time zone; a naive
    datetime is refused."""
    backend.record_audit(actor="op", action="login", note="old")
    start = clock.advance(timedelta(hours=2))
    backend.record_audit(actor="op", action="login", note="at")
    clock.advance(timedelta(minutes=1))
    backend.record_audit(actor="admin", action="user_add", note="after")
    copenhagen = start.astimezone(timezone(timedelta(hours=1)))

    assert ["after", "at"] == [e.note for e in backend.audit_log(since=start)]
    assert ["after", "at"] == [e.note for e in backend.audit_log(since=copenhagen)]
    assert ["at"] == [
        e.note for e in backend.audit_log(since=start, actor="op", limit=5)
    ]
    assert [] == backend.audit_log(since=clock() + timedelta(seconds=1))
    with pytest.raises(ValueError, match="since"):
        backend.audit_log(since=start.replace(tzinfo=None))


def test_purge_deletes_old_finished_items_and_runs(
    backend: QueueBackend, clock: Any
) -> None:
    """Purge removes finished items and runs older than the cut-off, nothing else."""
    backend.start_run("old-run", ROBOT, host="h", pid=1)
    backend.finish_run("old-run", status=RunStatus.COMPLETED, counts={})
    enqueue(backend, "old-done", "old-resolved", "old-in-progress", "recent-done")
    enqueue(backend, "old-new", not_before=clock() + timedelta(days=365))
    old_done = backend.complete(claim(backend).id, owner="w1", output={})
    excepted = claim(backend)
    backend.business_exception(excepted.id, owner="w1", error_type="E", message="m")
    backend.resolve([excepted.id], actor="op", note="by hand")
    old_in_progress = claim(backend)
    clock.advance(timedelta(days=100))
    cutoff = clock() - timedelta(days=90)
    backend.start_run("new-run", ROBOT, host="h", pid=1)
    backend.complete(claim(backend, owner="w2").id, owner="w2", output={})

    gone = backend.purge(finished_before=cutoff)

    assert 2 == gone
    assert ["old-in-progress", "recent-done", "old-new"] == [
        i.reference for i in backend.items()
    ]
    assert S.IN_PROGRESS == backend.get(old_in_progress.id).state
    assert ["new-run"] == [run.id for run in backend.runs()]
    assert 1 == len(backend.audit_log())
    with pytest.raises(ItemNotFoundError):
        backend.history(old_done.id)


def test_ids_are_not_reused_after_a_purge(backend: QueueBackend, clock: Any) -> None:
    """An item enqueued after a purge gets a new id, never a purged one."""
    done = in_state(backend, S.DONE)
    clock.advance(timedelta(days=1))
    backend.purge(finished_before=clock())

    enqueue(backend, "r2")

    assert [done.id + 1] == [i.id for i in backend.items()]
