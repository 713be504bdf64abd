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

if typing.TYPE_CHECKING:
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


def open_backend(url: str, *, clock: Clock | None = None) -> QueueBackend:
    """Open the work queue at ``url``.

    Args:
        url: ``memory://`` for an in-memory queue (tests), otherwise a SQLAlchemy
            URL such as ``sqlite:///.rpa/robotlib.db`` or
            ``postgresql+psycopg://rpa@dbhost/rpa``.
        clock: returns the current UTC time (default: the system clock); tests
            pass a fake one.

    Returns:
        The backend; call its ``close()`` when done.

    Raises:
        QueueError: the database cannot be opened.

    Example:
        >>> open_backend("memory://").counts("lab_results")[ItemState.NEW]
        0
    """
    from robotlib.queue.base import utc_now

    if url == MEMORY_URL:
        from robotlib.queue.memory import InMemoryBackend

        return InMemoryBackend(clock=clock or utc_now)
    from robotlib.queue.sqlalchemy import SqlAlchemyBackend

    return SqlAlchemyBackend(url, clock=clock or utc_now)


_MODELS = (
    "FINISHED_STATES",
    "AuditEntry",
    "EnqueueResult",
    "Handoff",
    "HistoryEntry",
    "ItemState",
    "NewItem",
    "Run",
    "RunStatus",
    "WorkItem",
)
#: Each name is imported when first used: `rpa --help` needs the models' enums
#: only, and SQLAlchemy is imported only when a SQL queue is opened or named.
__getattr__ = _lazy.lazy_exports(
    globals(),
    {
        **dict.fromkeys(_MODELS, "robotlib.queue.models"),
        **dict.fromkeys(("Clock", "QueueBackend", "utc_now"), "robotlib.queue.base"),
        "InMemoryBackend": "robotlib.queue.memory",
        "SqlAlchemyBackend": "robotlib.queue.sqlalchemy",
    },
)
