"""One active scheduler per database: the lock a scheduler holds while it fires jobs.

- On PostgreSQL, a session-level advisory lock (``pg_try_advisory_lock``) on a
  connection the scheduler keeps open. The server releases it the moment that
  connection ends, so a killed scheduler's standby takes over within one poll.
- On any other database (SQLite), a lease: a row of ``scheduler_lock`` naming the
  holder and an expiry the holder pushes forward on every poll. A standby takes the
  row over once the lease has expired, so a killed scheduler is replaced within the
  lease time. The holder checks that it still holds the lease before each firing.

Both write who holds the lock in ``scheduler_lock``, so that ``rpa schedules`` and a
waiting standby can say which host and process is active.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from robotlib.db.schema import scheduler_lock

__all__ = [
    "LOCK_NAME",
    "AdvisoryLock",
    "LeaseLock",
    "LockHolder",
    "SchedulerLock",
    "current_holder",
    "open_lock",
]

LOCK_NAME = "scheduler"
#: The advisory lock's key: a fixed number, the same for every robotlib scheduler.
ADVISORY_KEY = 0x726F626F746C6962  # "robotlib"


@dataclass(frozen=True)
class LockHolder:
    """Who holds the scheduler lock, as its ``scheduler_lock`` row says."""

    holder: str
    host: str
    pid: int
    acquired_at: datetime
    expires_at: datetime

    def __str__(self) -> str:
        return (
            f"{self.host} (pid {self.pid}) since {self.acquired_at:%Y-%m-%d %H:%M:%S}Z"
        )


class SchedulerLock(Protocol):
    """The lock a scheduler must hold to fire jobs."""

    kind: str

    def acquire(self) -> bool:
        """Try once to take the lock; True when this process holds it now."""

    def renew(self) -> bool:
        """Keep the lock; False when it has been lost."""

    def release(self) -> None:
        """Give the lock up (a clean stop), so a standby takes over at once."""


def open_lock(engine: Engine, *, ttl: timedelta) -> SchedulerLock:
    """The lock for ``engine``'s database: advisory on PostgreSQL, else a lease."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, ttl=ttl)
    return LeaseLock(engine, ttl=ttl)


def current_holder(engine: Engine) -> LockHolder | None:
    """The holder recorded in ``scheduler_lock``, or None when there is none."""
    with engine.connect() as conn:
        row = conn.execute(
            select(scheduler_lock).where(scheduler_lock.c.name == LOCK_NAME)
        ).first()
    if row is None:
        return None
    return LockHolder(row.holder, row.host, row.pid, row.acquired_at, row.expires_at)


class LeaseLock:
    """A lease row in ``scheduler_lock``: works on every database, SQLite included.

    Args:
        engine: the project database.
        ttl: how long the lease lasts without a renewal; a standby takes over this
            long after the holder died.
    """

    kind = "lease"

    def __init__(self, engine: Engine, *, ttl: timedelta) -> None:
        self.engine = engine
        self.ttl = ttl
        self.me = _identity()

    def acquire(self) -> bool:
        """Take the lease when it is free, expired, or ours already."""
        now = datetime.now(UTC)
        values = self._values(now)
        try:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    update(scheduler_lock)
                    .where(scheduler_lock.c.name == LOCK_NAME)
                    .where(
                        (scheduler_lock.c.holder == self.me)
                        | (scheduler_lock.c.expires_at < now)
                    )
                    .values(values)
                ).rowcount
                if taken:
                    return True
                exists = conn.scalar(
                    select(scheduler_lock.c.name).where(
                        scheduler_lock.c.name == LOCK_NAME
                    )
                )
                if exists is not None:
                    return False
                conn.execute(insert(scheduler_lock).values(name=LOCK_NAME, **values))
                return True
        except IntegrityError:  # another scheduler inserted the row first
            return False

    def renew(self) -> bool:
        """Push the expiry forward; False when another scheduler has the lease."""
        now = datetime.now(UTC)
        try:
            with self.engine.begin() as conn:
                return bool(
                    conn.execute(
                        update(scheduler_lock)
                        .where(scheduler_lock.c.name == LOCK_NAME)
                        .where(scheduler_lock.c.holder == self.me)
                        .where(scheduler_lock.c.expires_at >= now)
                        .values(expires_at=now + self.ttl)
                    ).rowcount
                )
        except SQLAlchemyError:
            return False

    def release(self) -> None:
        """Delete our lease row."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(scheduler_lock)
                .where(scheduler_lock.c.name == LOCK_NAME)
                .where(scheduler_lock.c.holder == self.me)
            )

    def _values(self, now: datetime) -> dict[str, object]:
        return {
            "holder": self.me,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "acquired_at": now,
            "expires_at": now + self.ttl,
        }


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock on a connection kept open.

    Args:
        engine: the project database (PostgreSQL).
        ttl: how long the informational ``scheduler_lock`` row says the lock lasts;
            the lock itself lasts as long as the connection.
    """

    kind = "advisory"

    def __init__(self, engine: Engine, *, ttl: timedelta) -> None:
        self.engine = engine
        self.ttl = ttl
        self.me = _identity()
        self._conn: Connection | None = None
        # The firing threads check the lock too; one connection serves them in turn.
        self._mutex = threading.RLock()

    def acquire(self) -> bool:
        """Take the advisory lock on a new connection, if no one holds it."""
        with self._mutex:
            return self._acquire()

    def renew(self) -> bool:
        """Check that our connection, and so the lock, is still alive."""
        with self._mutex:
            return self._renew()

    def release(self) -> None:
        """Unlock and close the connection; the row goes too."""
        with self._mutex:
            self._release()

    def _acquire(self) -> bool:
        if self._conn is not None:
            return self._renew()
        conn = self.engine.connect()
        try:
            got = bool(
                conn.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
                )
            )
            conn.commit()
        except SQLAlchemyError:
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        self._record(datetime.now(UTC), acquired=True)
        return True

    def _renew(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": ADVISORY_KEY},
            )
            self._conn.commit()
        except SQLAlchemyError:
            self._drop()
            return False
        if not held:
            self._drop()
            return False
        self._record(datetime.now(UTC), acquired=False)
        return True

    def _release(self) -> None:
        if self._conn is None:
            return
        try:
            try:
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                self._conn.commit()
            except SQLAlchemyError:
                pass  # the connection died, and the lock with it
            with self.engine.begin() as conn:
                conn.execute(
                    delete(scheduler_lock)
                    .where(scheduler_lock.c.name == LOCK_NAME)
                    .where(scheduler_lock.c.holder == self.me)
                )
        finally:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except SQLAlchemyError:
                pass  # the connection is gone already: that is why we drop it
            self._conn = None

    def _record(self, now: datetime, *, acquired: bool) -> None:
        """Write who holds the lock (informational: the lock is the advisory one)."""
        values: dict[str, object] = {
            "holder": self.me,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "expires_at": now + self.ttl,
        }
        with self.engine.begin() as conn:
            if acquired:
                conn.execute(
                    delete(scheduler_lock).where(scheduler_lock.c.name == LOCK_NAME)
                )
                conn.execute(
                    insert(scheduler_lock).values(
                        name=LOCK_NAME, acquired_at=now, **values
                    )
                )
            else:
                conn.execute(
                    update(scheduler_lock)
                    .where(scheduler_lock.c.name == LOCK_NAME)
                    .values(**values)
                )


def _identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
