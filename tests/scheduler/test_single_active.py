"""One active scheduler per database; a standby takes over when it dies."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from robotlib.db import database_engine
from robotlib.queue import SqlAlchemyBackend
from robotlib.scheduler import FiringStore
from robotlib.scheduler._lock import AdvisoryLock, LeaseLock, current_holder

INTERVAL_JOB = """\
[jobs.often]
robot = "slow"
interval_minutes = 0.02    # 1.2 s
misfire_grace_s = 30
"""


@pytest.fixture
def pg_url(make_postgresql_database: Callable[[], str]) -> str:
    """A new, empty PostgreSQL database on the local server."""
    return make_postgresql_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    """The project database: the default SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


def _engine(url: str) -> Engine:
    engine = database_engine(url)
    SqlAlchemyBackend(engine).close()  # the tables
    return engine


def test_a_lease_lock_has_one_holder_and_passes_on_after_expiry(
    tmp_path: Path,
) -> None:
    """SQLite: the second scheduler waits until the first one's lease expired."""
    engine = _engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    first = LeaseLock(engine, ttl=timedelta(seconds=1))
    second = LeaseLock(engine, ttl=timedelta(seconds=1))

    assert first.acquire()
    assert not second.acquire()
    assert first.renew()
    holder = current_holder(engine)
    assert holder is not None and holder.holder == first.me

    engine.dispose()
    engine = _engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    second.engine = first.engine = engine
    time.sleep(1.2)  # the first stopped renewing: its lease expires
    assert second.acquire()
    assert not first.renew(), "the first learns it lost the lock"
    assert not first.acquire()
    second.release()
    assert first.acquire(), "a released lock is free at once"
    engine.dispose()


def test_an_advisory_lock_is_freed_when_its_connection_dies(pg_url: str) -> None:
    """PostgreSQL: the lock lives as long as the holder's connection."""
    engine = _engine(pg_url)
    first = AdvisoryLock(engine, ttl=timedelta(seconds=5))
    second = AdvisoryLock(engine, ttl=timedelta(seconds=5))

    assert first.acquire()
    assert not second.acquire()
    assert first.renew()
    assert first._conn is not None
    backend_pid = first._conn.scalar(text("SELECT pg_backend_pid()"))
    first._conn.commit()
    with engine.connect() as conn:  # the server ends the first one's session
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid})
        conn.commit()
        # pg_terminate_backend only signals the session: wait until it has gone
        # (and its advisory lock with it), as a standby's next poll would.
        gone = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
        deadline = time.monotonic() + 10
        while conn.scalar(gone, {"pid": backend_pid}) and time.monotonic() < deadline:
            conn.commit()
            time.sleep(0.05)

    try:
        assert second.acquire()
        assert not first.renew()
        holder = current_holder(engine)
        assert holder is not None and holder.holder == second.me
    finally:
        second.release()
        first.release()
        engine.dispose()


def test_two_schedulers_fire_once_and_the_standby_takes_over(
    project: Path,
    database: str | None,
    write_schedule: Callable[[str], Path],
    schedulers: Any,
    wait_for: Callable[..., Any],
) -> None:
    """Only the active one fires; kill it and the standby fires from then on."""
    env = {"RPA_DATABASE_URL": database} if database else {}
    engine = _engine(database or f"sqlite:///{project / '.rpa' / 'robotlib.db'}")
    firings = FiringStore(engine)
    write_schedule(INTERVAL_JOB)
    first = schedulers.start(env=env)
    wait_for(lambda: current_holder(engine), 30, "the first to take the lock")
    second = schedulers.start(env=env)

    def ran(by: int) -> list[Any]:
        return [f for f in firings.find(job="often") if f.run_id and f.pid == by]

    wait_for(lambda: len(ran(first.pid)) >= 3, 60, "three firings by the first")
    assert ran(second.pid) == [], "the standby fired nothing"
    assert "scheduler_standby" in schedulers.output(1)

    schedulers.stop(first, kill=True)
    taken_over = wait_for(lambda: ran(second.pid), 60, "the standby to fire")
    schedulers.stop(second)

    assert taken_over
    by_first = ran(first.pid)
    last_of_first = max(f.started_at for f in by_first)
    assert min(f.started_at for f in taken_over) > last_of_first
    runs = [f for f in firings.find(job="often") if f.run_id]
    assert len({f.run_id for f in runs}) == len(runs), "no firing ran twice"
    engine.dispose()
