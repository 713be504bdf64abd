"""The public face of robotlib.queue: its exports and open_backend."""

from __future__ import annotations

import inspect

import robotlib.queue
from robotlib.queue import InMemoryBackend, SqlAlchemyBackend, open_backend


def isort_order(name: str) -> tuple[int, str]:
    """Sort constants first, then classes, then functions (ruff's RUF022 order)."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return (kind, name)


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and names exactly the package's public, non-module names
    (those imported lazily included: each one resolves)."""
    for name in robotlib.queue.__all__:
        getattr(robotlib.queue, name)
    public = {
        name
        for name, value in vars(robotlib.queue).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and name != "annotations"
    }
    names = robotlib.queue.__all__

    assert sorted(names, key=isort_order) == names
    assert public == set(names)


def test_open_backend_memory_url_gives_the_in_memory_backend() -> None:
    """The URL memory:// opens an in-memory queue."""
    assert InMemoryBackend is type(open_backend("memory://"))


def test_open_backend_other_urls_give_the_sql_backend(sqlite_url: str) -> None:
    """Any other URL opens the SQL backend on that database."""
    backend = open_backend(sqlite_url)
    backend.close()

    assert SqlAlchemyBackend is type(backend)
