"""The project database's SQLAlchemy engine, SQLite set up for several workers.

SQLite, the embedded default, needs care to serve several worker processes:

- the file and its folder are created on first use, the file owner-only on POSIX;
- WAL journal mode, so readers do not block the writer;
- ``busy_timeout``, so a writer waits for the lock instead of failing at once;
- foreign keys on (SQLite has them off by default);
- transactions start with ``BEGIN IMMEDIATE``: a transaction takes the write lock
  when it begins, so a claim's select and update are atomic across processes and
  never fail half-way on a lock upgrade. This is SQLAlchemy's documented recipe
  (pysqlite's own BEGIN handling off, ``isolation_level = None``, and a ``begin``
  event emitting ours). Read-only work asks for ``BEGIN DEFERRED`` through the
  execution option :data:`SQLITE_BEGIN`.

Other databases (PostgreSQL) get a plain engine; their row locks
(``FOR UPDATE SKIP LOCKED``) make claims atomic.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from robotlib.errors import QueueError
from robotlib.retrying import retrying

__all__ = ["BUSY_TIMEOUT_MS", "SQLITE_BEGIN", "database_engine", "transaction"]

#: How long a SQLite connection waits for another process's write lock.
BUSY_TIMEOUT_MS = 30_000

#: Execution option naming how a SQLite transaction begins ("IMMEDIATE" by default).
SQLITE_BEGIN = "robotlib_sqlite_begin"


def database_engine(url: str | URL) -> Engine:
    """Return an engine for the queue database at ``url``.

    Args:
        url: a SQLAlchemy URL, e.g. ``sqlite:///C:/rpa/queue.db`` or
            ``postgresql+psycopg://rpa@dbhost/rpa``.

    Returns:
        The engine; SQLite ones are configured as the module docstring says.

    Raises:
        QueueError: the URL is invalid, or the SQLite file cannot be created.

    Example:
        >>> engine = database_engine("sqlite:///queue.db")  # doctest: +SKIP
    """
    try:
        url = make_url(url)
    except Exception as exc:  # ArgumentError, ValueError: any malformed URL
        raise QueueError(f"invalid queue database URL: {exc}") from None
    if url.get_backend_name() != "sqlite":
        return create_engine(url, hide_parameters=True, pool_pre_ping=True)
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        # One shared connection: an in-memory database exists once per connection.
        engine = create_engine(
            url,
            hide_parameters=True,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
        _configure_sqlite(engine, wal=False)
        return engine
    _prepare_file(Path(database))
    engine = create_engine(url, hide_parameters=True)
    _configure_sqlite(engine, wal=True)
    return engine


def _prepare_file(path: Path) -> None:
    """Create the database file and its folder; owner-only on POSIX."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            return
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        if os.name == "posix":
            os.chmod(path, 0o600)
    except OSError as exc:
        raise QueueError(
            f"cannot create the queue database {path}: {exc.strerror or exc}"
        ) from exc


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Put the database in WAL mode, once: the mode is kept in the file.

    Switching needs a moment alone with the file, and SQLite answers "database is
    locked" at once instead of waiting (the busy timeout does not apply), so the
    first processes to open a new database at the same moment (a run and a
    worker, say) try again for up to the busy timeout.
    """

    def switch() -> None:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")

    retrying(
        sqlite3.OperationalError,
        when=lambda exc: "locked" in str(exc),
        attempts=1_000_000,
        give_up_after_s=BUSY_TIMEOUT_MS / 1000,
        wait=lambda _failed: 0.05,
        event="sqlite_wal_retried",
    )(switch)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from emitting BEGIN itself; on_begin below does it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                _use_wal(cursor)
        finally:
            cursor.close()

    def on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)


@contextmanager
def transaction(engine: Engine, *, write: bool, where: str) -> Iterator[Connection]:
    """A transaction on ``engine``; database errors become a QueueError.

    Args:
        engine: an engine from :func:`database_engine`.
        write: a transaction that may write (SQLite: holding the write lock from
            ``BEGIN IMMEDIATE``); else a read-only one (a deferred ``BEGIN`` that
            takes no lock).
        where: what the error names, e.g. ``"queue database sqlite:///q.db"``.

    Raises:
        QueueError: the database refused; the message names ``where`` and why.
    """
    try:
        if write:
            with engine.begin() as conn:
                yield conn
        else:
            with engine.connect() as conn:
                conn.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
                yield conn
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise QueueError(f"{where}: {reason}") from exc
