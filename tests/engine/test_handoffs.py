"""A robot hands work to another (the child exists exactly when the parent is
done); a run with nothing queued starts no application."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from robotlib import (
    ApplicationError,
    BusinessRuleError,
    Context,
    RetryPolicy,
    Robot,
    Stage,
)
from robotlib.engine import Engine
from robotlib.queue import NewItem, QueueBackend
from robotlib.queue.models import ItemState, RunStatus

PARENT, CHILD = "registrar", "letters"


class Result(BaseModel):
    """A row to register; odd rows need a letter."""

    n: int


def _registrar(
    registered: list[int], *, precheck: bool = False, **options: Any
) -> Robot[Result]:
    def register(ctx: Context, row: Result) -> dict[str, int]:
        registered.append(row.n)
        return {"registration_id": 100 + row.n}

    def already(ctx: Context, row: Result) -> dict[str, int] | None:
        return {"registration_id": 100 + row.n} if precheck else None

    def letter(row: Result, output: dict[str, Any]) -> dict[str, int] | None:
        if row.n % 2 == 0:
            return None
        return {"n": row.n, "registration_id": output["registration_id"]}

    return Robot(
        name=PARENT,
        item=Result,
        source=lambda path: [{"n": n} for n in (1, 2, 3)],
        reference=["n"],
        process=register,
        precheck=already,
        outputs_to={CHILD: letter},
        **options,
    )


def test_a_done_item_hands_its_letter_off_once(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """Odd rows hand a letter to the letters robot, with the registration id, its
    parent the registering item; a second run adds no letter."""
    registered: list[int] = []
    engine = make_engine(_registrar(registered))

    engine.run()
    engine.run()

    parents = {item.payload["n"]: item for item in backend.items(PARENT)}
    letters = backend.items(CHILD)
    assert [1, 2, 3] == registered
    assert [({"n": 1, "registration_id": 101}, parents[1].id, "1")] == [
        (letters[0].payload, letters[0].parent_id, letters[0].reference)
    ]
    assert [ItemState.NEW, ItemState.NEW] == [item.state for item in letters]
    assert [3] == [item.payload["n"] for item in letters[1:]]


@pytest.mark.parametrize("precheck", [True, False], ids=["found", "not-found"])
def test_an_item_found_done_by_its_precheck_hands_off_too(
    make_engine: Callable[..., Engine], backend: QueueBackend, precheck: bool
) -> None:
    """A worker that died after saving (the item claimed before, its lease gone):
    the precheck finds the registration, and the letter is handed off then; else
    the row is registered and handed off as usual. One letter either way."""
    backend.enqueue(PARENT, [NewItem("1", {"n": 1})])
    backend.claim_next(PARENT, owner="dead", lease=timedelta(seconds=-1))
    backend.recover_expired(PARENT)
    registered: list[int] = []

    make_engine(_registrar(registered, precheck=precheck)).run(load=False)

    [letter] = backend.items(CHILD)
    assert ({"n": 1, "registration_id": 101}, [] if precheck else [1]) == (
        letter.payload,
        registered,
    )


def test_a_hand_off_that_fails_leaves_the_item_undone(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A payload function that raises is the item's system exception: the item is
    not done and no letter exists (tried again, then failed, for a person to see;
    the precheck of the next attempt finds a registration that went through)."""

    def broken(row: Result, output: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("letter_text")

    robot = Robot(
        name=PARENT,
        item=Result,
        source=lambda path: [{"n": 1}],
        reference=["n"],
        process=lambda ctx, row: {"registration_id": 1},
        outputs_to={CHILD: broken},
        retry=RetryPolicy(attempts=2, backoff_s=(0,)),
    )

    make_engine(robot).run()

    [item] = backend.items(PARENT)
    assert (ItemState.FAILED, []) == (item.state, backend.items(CHILD))
    assert "letter_text" in (item.error_message or "")


def test_a_run_with_nothing_queued_starts_no_application(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """Nothing new in the queue: setup (the browser, the login) is never run; a
    later run with work starts it as usual."""
    setups: list[str] = []
    rows: list[dict[str, int]] = []
    robot = Robot(
        name=PARENT,
        item=Result,
        source=lambda path: rows,
        reference=["n"],
        setup=lambda ctx: setups.append("setup"),
        process=lambda ctx, row: None,
    )

    empty = make_engine(robot).run()
    setups_when_empty = list(setups)
    rows.append({"n": 1})
    busy = make_engine(robot).run()

    assert (RunStatus.COMPLETED, "nothing to do", []) == (
        empty.status,
        empty.note,
        setups_when_empty,
    )
    assert (ItemState.DONE, ["setup"]) == (backend.items(PARENT)[0].state, setups)
    assert {"done": 1} == busy.counts


def test_ctx_enqueue_hands_off_when_the_item_is_done(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A stage's ctx.enqueue creates the letter when the item is done, with its
    reference, priority and deadline (naive: the project's zone); a row that ends
    a business exception hands nothing off."""

    def register(ctx: Context, row: Result) -> None:
        if row.n == 2:
            raise BusinessRuleError("no patient for row 2")
        ctx.enqueue(
            CHILD,
            {"n": row.n},
            reference=f"letter-{row.n}",
            priority=5,
            deadline=datetime(2026, 12, 8, 7, 0),
        )

    robot = Robot(
        name=PARENT,
        item=Result,
        source=lambda path: [{"n": n} for n in (1, 2)],
        reference=["n"],
        process=register,
    )

    make_engine(robot).run()

    [letter] = backend.items(CHILD)
    parents = {item.payload["n"]: item for item in backend.items(PARENT)}
    assert (letter.reference, letter.payload, letter.priority) == (
        "letter-1",
        {"n": 1},
        5,
    )
    assert letter.parent_id == parents[1].id
    assert letter.deadline == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)  # 07:00 CET
    assert parents[2].state is ItemState.BUSINESS_EXCEPTION


def test_a_stage_s_hand_off_is_kept_when_a_later_stage_fails(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """Stage one hands a letter off and finishes; stage two fails once (as after a
    crash, the retry starts with a fresh context after stage one). The letter is
    created once, when the item is done, and the done item's output has no trace
    of the pending hand-off."""
    calls: list[str] = []

    def register(ctx: Context, row: Result) -> dict[str, int]:
        calls.append("register")
        ctx.enqueue(CHILD, {"n": row.n})
        return {"registration_id": 100 + row.n}

    def archive(ctx: Context, row: Result) -> None:
        calls.append("archive")
        if calls.count("archive") == 1:
            raise ApplicationError("the archive timed out")
        assert backend.items(CHILD) == [], "not before the item is done"

    robot = Robot(
        name=PARENT,
        item=Result,
        source=lambda path: [{"n": 1}],
        reference=["n"],
        process=[Stage("register", register), Stage("archive", archive)],
        retry=RetryPolicy(attempts=2, backoff_s=(0,)),
    )

    make_engine(robot).run()

    assert calls == ["register", "archive", "archive"]
    [parent] = backend.items(PARENT)
    [letter] = backend.items(CHILD)
    assert parent.state is ItemState.DONE
    assert parent.output == {"registration_id": 101}
    assert (letter.payload, letter.parent_id) == ({"n": 1}, parent.id)
