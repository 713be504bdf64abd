"""Waiting for work: PostgreSQL's LISTEN/NOTIFY, or a slow poll on SQLite.

An agent waits between looks at the dispatches. On PostgreSQL it keeps one
connection of its own in ``LISTEN rpa_work`` and wakes as soon as a dispatch is
offered (:mod:`._dispatches` notifies in the offering transaction), or when its
wait is up (its next heartbeat). A lost connection is opened again at the next
wait; meanwhile the agent polls. On SQLite (one machine) it waits the poll
interval: there is nothing to listen on.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import structlog
from sqlalchemy import Engine

from robotlib.fleet._dispatches import CHANNEL

__all__ = ["Waker"]

log = structlog.get_logger("robotlib.fleet")


class Waker:
    """Waits until work may be there (a notification), a timeout, or a stop.

    Args:
        engine: the project database.
        stop: set it to end a wait at once.
    """

    def __init__(self, engine: Engine, stop: threading.Event) -> None:
        self.stop = stop
        self.listening = engine.dialect.name == "postgresql"
        self._url = engine.url.set(drivername="postgresql")
        self._conn: Any = None

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s``; True when a notification came."""
        if not self.listening or self.stop.is_set():
            self.stop.wait(timeout_s)
            return False
        conn = self._connection()
        if conn is None:
            self.stop.wait(timeout_s)
            return False
        # short slices, so that a stop (SIGTERM) is seen within a second
        left = timeout_s
        try:
            while left > 0 and not self.stop.is_set():
                step = min(left, 1.0)
                # list(): the generator must end (it holds the connection's lock)
                if list(conn.notifies(timeout=step, stop_after=1)):
                    list(conn.notifies(timeout=0.01))  # one look serves them all
                    return True
                left -= step
        except Exception as exc:
            log.warning("listen_lost", error=str(exc).splitlines()[0])
            self.close()
        return False

    def close(self) -> None:
        """Close the listening connection."""
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a broken one is closed already
                self._conn.close()
            self._conn = None

    def _connection(self) -> Any:
        if self._conn is not None:
            return self._conn
        import psycopg

        try:
            conn = psycopg.connect(
                self._url.render_as_string(hide_password=False), autocommit=True
            )
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("listen_failed", error=str(exc).splitlines()[0])
            return None
        self._conn = conn
        return conn
