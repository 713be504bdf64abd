"""A robot hands work to another (the child exists exactly when the parent is
done); a run with nothing queued starts no application."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from robotlib import Context, RetryPolicy, Robot
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
