"""The work queue: every input row a tracked transaction, stored once per robot.

Open a backend from a URL with :func:`open_backend`; ``memory://`` gives an
:class:`InMemoryBackend` for tests, anything else a :class:`SqlAlchemyBackend`
(a SQLite file by default, PostgreSQL by URL).

Example:
    >>> from robotlib.queue import NewItem, open_backend
    >>> queue = open_backend("memory://")
    >>> queue.enqueue("lab_results", [NewItem("row-1", {"value": 7.1})])
    EnqueueResult(added=1, existing=0)
"""

from __future__ import annotations

import typing

from robotlib import _lazy
from robotlib.queue.base import Clock, QueueBackend, utc_now
from robotlib.queue.memory import InMemoryBackend
from robotlib.queue.models import (
    FINISHED_STATES,
    AuditEntry,
    EnqueueResult,
    Handoff,
    HistoryEntry,
    ItemState,
    NewItem,
    Run,
    RunStatus,
    WorkItem,
)

if typing.TYPE_CHECKING:
    from robotlib.queue.sqlalchemy import SqlAlchemyBackend

__all__ = [
    "FINISHED_STATES",
    "MEMORY_URL",
    "AuditEntry",
    "Clock",
    "EnqueueResult",
    "Handoff",
    "HistoryEntry",
    "InMemoryBackend",
    "ItemState",
    "NewItem",
    "QueueBackend",
    "Run",
    "RunStatus",
    "SqlAlchemyBackend",
    "WorkItem",
    "open_backend",
    "utc_now",
]

#: The URL of an in-memory queue.
MEMORY_URL = "memory://"


def open_backend(url: str, *, clock: Clock = utc_now) -> QueueBackend:
    """Open the work queue at ``url``.

    Args:
        url: ``memory://`` for an in-memory queue (tests), otherwise a SQLAlchemy
            URL such as ``sqlite:///.rpa/robotlib.db`` or
            ``postgresql+psycopg://rpa@dbhost/rpa``.
        clock: returns the current UTC time; tests pass a fake one.

    Returns:
        The backend; call its ``close()`` when done.

    Raises:
        QueueError: the database cannot be opened.

    Example:
        >>> open_backend("memory://").counts("lab_results")[ItemState.NEW]
        0
    """
    if url == MEMORY_URL:
        return InMemoryBackend(clock=clock)
    from robotlib.queue.sqlalchemy import SqlAlchemyBackend

    return SqlAlchemyBackend(url, clock=clock)


#: SQLAlchemy is imported only when a SQL queue is opened or named.
__getattr__ = _lazy.lazy_exports(
    globals(), {"SqlAlchemyBackend": "robotlib.queue.sqlalchemy"}
)
