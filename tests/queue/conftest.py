"""Shared fixtures of the queue tests: a fake clock and each backend.

The contract suite runs on the in-memory backend and on a SQLite file; with
``RPA_TEST_DATABASE_URL`` set (a PostgreSQL database the tests may wipe) it runs on
that database too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from robotlib.queue import InMemoryBackend, QueueBackend, SqlAlchemyBackend
from robotlib.queue.schema import metadata

POSTGRESQL_URL = os.environ.get("RPA_TEST_DATABASE_URL")
BACKENDS = ["memory", "sqlite", *(["postgresql"] if POSTGRESQL_URL else [])]

START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


class FakeClock:
    """A clock that stands still until a test advances it."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        """Return the current fake time."""
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time."""
        self.current += delta
        return self.current


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock standing at START."""
    return FakeClock()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """Return the path of a SQLite queue file, in a folder not made yet."""
    return tmp_path / "state" / "queue.db"


@pytest.fixture
def sqlite_url(sqlite_path: Path) -> str:
    """Return the URL of the SQLite queue file."""
    return f"sqlite:///{sqlite_path.as_posix()}"


@pytest.fixture
def make_sqlite_backend(
    sqlite_url: str, clock: FakeClock
) -> Iterator[Callable[[], SqlAlchemyBackend]]:
    """Return a factory of SQLite backends on one file (like separate processes)."""
    opened: list[SqlAlchemyBackend] = []

    def make() -> SqlAlchemyBackend:
        backend = SqlAlchemyBackend(sqlite_url, clock=clock.now)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


def wipe_postgresql(url: str) -> None:
    """Drop the queue's tables from the test database."""
    engine = create_engine(url)
    with engine.begin() as conn:
        metadata.drop_all(conn)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest,
    clock: FakeClock,
    make_sqlite_backend: Callable[[], SqlAlchemyBackend],
) -> Iterator[QueueBackend]:
    """Return each backend in turn, on the fake clock: the contract holds for all."""
    if request.param == "memory":
        yield InMemoryBackend(clock=clock.now)
    elif request.param == "sqlite":
        yield make_sqlite_backend()
    else:
        assert POSTGRESQL_URL is not None
        wipe_postgresql(POSTGRESQL_URL)
        backend = SqlAlchemyBackend(POSTGRESQL_URL, clock=clock.now)
        yield backend
        backend.close()
