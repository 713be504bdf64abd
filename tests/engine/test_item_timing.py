"""A robot sets each item's priority, not-before and deadline from its row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from robotlib import Context, Robot
from robotlib.engine import Engine
from robotlib.queue import QueueBackend
from robotlib.queue.models import ItemState

ROBOT = "timed"
COPENHAGEN = ZoneInfo("Europe/Copenhagen")


class Order(BaseModel):
    """A row: its number, whether it is urgent, when it is due (local time)."""

    n: int
    urgent: bool = False
    due: datetime | None = None


def _robot(rows: list[dict[str, Any]], done: list[int], **timing: Any) -> Robot[Order]:
    def process(ctx: Context, order: Order) -> None:
        done.append(order.n)

    return Robot(
        name=ROBOT,
        item=Order,
        source=lambda path: rows,
        reference=["n"],
        process=process,
        **timing,
    )


def test_urgent_rows_are_done_first_and_deadlines_are_kept(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """Priority from the row orders the claims; a deadline without a time zone is
    the project's (Copenhagen) time, stored in UTC."""
    rows = [
        {"n": 1},
        {"n": 2, "urgent": True, "due": "2026-12-08T06:00"},
        {"n": 3},
        {"n": 4, "urgent": True},
    ]
    done: list[int] = []
    robot = _robot(
        rows,
        done,
        priority=lambda order: 10 if order.urgent else 0,
        deadline=lambda order: order.due,
    )

    make_engine(robot).run()

    assert [2, 4, 1, 3] == done
    by_n = {item.payload["n"]: item for item in backend.items(ROBOT)}
    due = datetime(2026, 12, 8, 6, 0, tzinfo=COPENHAGEN).astimezone(UTC)
    assert (10, due) == (by_n[2].priority, by_n[2].deadline)
    assert (0, None) == (by_n[1].priority, by_n[1].deadline)


def test_a_row_not_due_yet_waits_in_the_queue(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """not_before in the future: the run leaves that row new, does the others."""
    later = datetime.now(UTC) + timedelta(hours=2)
    done: list[int] = []
    robot = _robot(
        [{"n": 1}, {"n": 2}],
        done,
        not_before=lambda order: later if order.n == 2 else None,
    )

    make_engine(robot).run()

    assert [1] == done
    [waiting] = [i for i in backend.items(ROBOT) if i.state is ItemState.NEW]
    assert (2, later) == (waiting.payload["n"], waiting.not_before)


def test_a_timing_that_fails_on_a_row_rejects_that_row_only(
    make_engine: Callable[..., Engine], backend: QueueBackend
) -> None:
    """A priority that is no whole number is that row's business exception, with
    where the row is and why; the other rows are done."""
    done: list[int] = []
    robot = _robot(
        [{"n": 1}, {"n": 2}],
        done,
        priority=lambda order: "high" if order.n == 2 else 1,
    )

    make_engine(robot).run()

    assert [1] == done
    [refused] = [
        i for i in backend.items(ROBOT) if i.state is ItemState.BUSINESS_EXCEPTION
    ]
    assert refused.error_message == (
        "row 2: the robot's priority or timing failed "
        "(TypeError: priority must be a whole number, not 'high')"
    )
