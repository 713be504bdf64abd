"""Helpers for testing robots (and robotlib) without a database or a browser.

Example:
    >>> from robotlib.testing import InMemoryBackend, make_work_item
    >>> make_work_item(reference="240512-4123|NPU02319").state.value
    'new'
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from robotlib.queue.memory import InMemoryBackend
from robotlib.queue.models import ItemState, WorkItem

__all__ = ["FakeClock", "InMemoryBackend", "capture_events", "make_work_item"]


class FakeClock:
    """A clock that stands still until told to move; pass it as ``clock=``.

    Example:
        >>> clock = FakeClock()
        >>> clock.advance(minutes=5)
        >>> clock() == FakeClock.START + timedelta(minutes=5)
        True
    """

    START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move the clock forward by ``delta`` or ``timedelta(**parts)``; return the
        new time (``clock.advance(minutes=5)``, ``clock.advance(LEASE)``)."""
        self.now += (delta or timedelta()) + timedelta(**parts)
        return self.now


def make_work_item(**overrides: Any) -> WorkItem:
    """Return a work item with sensible defaults; override any field.

    Example:
        >>> make_work_item(attempts=2).attempts
        2
    """
    item = WorkItem(
        id=1,
        robot="robot",
        reference="ref-1",
        payload={},
        state=ItemState.NEW,
        priority=0,
        not_before=None,
        deadline=None,
        attempts=0,
        claims=0,
        finished_stages=(),
        lease_owner=None,
        lease_expires=None,
        created_at=FakeClock.START,
        started_at=None,
        finished_at=None,
        output={},
        error_type=None,
        error_message=None,
        artifacts=(),
        run_id=None,
    )
    return replace(item, **overrides)


@contextmanager
def capture_events() -> Iterator[list[MutableMapping[str, Any]]]:
    """Collect the log events emitted inside the block (structlog's capture_logs).

    Example:
        >>> with capture_events() as events:
        ...     structlog.get_logger().info("item_done", item_id=1)
        >>> events[0]["event"]
        'item_done'
    """
    with structlog.testing.capture_logs() as events:
        yield events
