"""Shared fixtures of the queue tests: a fake clock and each backend.

The contract suite runs on the in-memory backend, on a SQLite file and on a new
PostgreSQL database of the local server (see ``postgresql_server`` in the root
conftest: skipped with the reason where there is none, failed in CI).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from robotlib.db.schema import metadata
from robotlib.queue import InMemoryBackend, QueueBackend, SqlAlchemyBackend
from robotlib.testing import FakeClock

BACKENDS = ["memory", "sqlite", "postgresql"]

START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock standing at START."""
    return FakeClock(START)


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
        backend = SqlAlchemyBackend(sqlite_url, clock=clock)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


@pytest.fixture(scope="session")
def postgresql_url(postgresql_server: str) -> Iterator[str]:
    """One PostgreSQL database for the session's contract tests; wiped per test."""
    from sqlalchemy import text

    name = f"robotlib_queue_{secrets.token_hex(4)}"
    admin = create_engine(f"{postgresql_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{postgresql_server}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
        yield InMemoryBackend(clock=clock)
    elif request.param == "sqlite":
        yield make_sqlite_backend()
    else:
        url: str = request.getfixturevalue("postgresql_url")
        wipe_postgresql(url)
        backend = SqlAlchemyBackend(url, clock=clock)
        yield backend
        backend.close()
