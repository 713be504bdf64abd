"""The project database: its engine, transactions, tables and migrations.

One database holds a project's state (the work queue, runs, the audit trail, the
scheduler's lock and firings, the console's users and sessions). Every store opens
it with :func:`database_engine`, works in :func:`transaction` and names the tables
of :mod:`robotlib.db.schema`; :func:`upgrade` creates or migrates the schema when a
store opens the database.

Example:
    >>> from robotlib.db import database_engine, transaction, upgrade
    >>> engine = database_engine("sqlite:///:memory:")
    >>> with transaction(engine, write=True, where="example") as conn:
    ...     upgrade(conn)
    0
"""

from __future__ import annotations

from robotlib.db.connection import (
    BUSY_TIMEOUT_MS,
    SQLITE_BEGIN,
    database_engine,
    transaction,
)
from robotlib.db.migrations import SCHEMA_VERSION, stored_version, upgrade

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SCHEMA_VERSION",
    "SQLITE_BEGIN",
    "database_engine",
    "stored_version",
    "transaction",
    "upgrade",
]
