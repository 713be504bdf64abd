"""The migrations that keep a project database current.

The tables in :data:`robotlib.db.schema.metadata` are the current schema.
``schema_version`` holds one row: the number of migrations the database has had.
:func:`upgrade` runs when a store opens a database, inside one transaction (on
SQLite a ``BEGIN IMMEDIATE`` one, so two processes opening the same file do not
race):

- an empty database gets the current tables and the current version;
- an older one gets the missing migrations, in order; a failure rolls all back;
- on PostgreSQL the upgrade first takes an advisory lock (for the transaction),
  so processes opening a new database at once do not both create it;
- a newer one (written by a newer robotlib) is refused with a :class:`QueueError`
  naming both versions, rather than being written to by code that does not know it.

Version 0 is a database whose tables have no ``schema_version`` row (or table).
Migration 1 is the baseline: it creates whatever table is missing.

How to add a migration (say, a column ``work_items.batch``):

1. Change the table in :mod:`robotlib.db.schema`
   (``Column("batch", String(100), nullable=True)``), so new databases get it.
2. Write ``def _add_batch(conn: Connection) -> None`` that makes the same change to
   an existing database, in SQL both SQLite and PostgreSQL accept, e.g.
   ``conn.exec_driver_sql("ALTER TABLE work_items ADD COLUMN batch VARCHAR(100)")``.
   Fill the new column for existing rows in the same function if it needs a value.
3. Append it to :data:`MIGRATIONS`. Never edit or reorder a released migration: its
   index is its version.
4. Add a test that opens a database of the previous version and finds its data.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, delete, insert, inspect, select, text

from robotlib.db.schema import (
    agents,
    console_sessions,
    console_users,
    deadline_alerts,
    dispatch_slots,
    dispatches,
    metadata,
    schedule_firings,
    schedule_pauses,
    scheduler_lock,
    schema_version,
    work_items,
)
from robotlib.errors import QueueError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "stored_version", "upgrade"]


#: Brings a database from version ``i`` to ``i + 1`` (its index in MIGRATIONS).
Migration = Callable[[Connection], None]


def _create_baseline(conn: Connection) -> None:
    """Version 1: create the tables a version-0 database lacks."""
    metadata.create_all(conn, checkfirst=True)


def _add_scheduler_tables(conn: Connection) -> None:
    """Version 2: the scheduler's lock and firing records."""
    metadata.create_all(
        conn, tables=[scheduler_lock, schedule_firings], checkfirst=True
    )


def _add_console_tables(conn: Connection) -> None:
    """Version 3: the console's users and sessions, and paused schedules."""
    metadata.create_all(
        conn,
        tables=[console_users, console_sessions, schedule_pauses],
        checkfirst=True,
    )


def _add_console_notices(conn: Connection) -> None:
    """Version 4: a session's notice for its next page, and each user's language.

    Version 3 creates the console tables as they are now, so a database that
    came through it in the same upgrade has the columns already.
    """
    found = inspect(conn)
    for table, column, kind in (
        ("console_sessions", "notice", "TEXT"),
        ("console_users", "language", "VARCHAR(16)"),
    ):
        if column not in {c["name"] for c in found.get_columns(table)}:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _add_run_versions(conn: Connection) -> None:
    """Version 5: the code each run ran (robotlib, the robot file, the commit).

    Runs recorded before have "" in each: their code is not known.
    """
    columns = {c["name"] for c in inspect(conn).get_columns("runs")}
    for column, size in (
        ("robotlib_version", 64),
        ("robot_sha256", 64),
        ("git_commit", 40),
    ):
        if column not in columns:
            conn.exec_driver_sql(
                f"ALTER TABLE runs ADD COLUMN {column} VARCHAR({size})"
                " NOT NULL DEFAULT ''"
            )


def _add_item_parents(conn: Connection) -> None:
    """Version 6: the item whose completion handed an item off (``parent_id``)."""
    if "parent_id" not in {c["name"] for c in inspect(conn).get_columns("work_items")}:
        kind = "INTEGER" if conn.dialect.name == "sqlite" else "BIGINT"
        conn.exec_driver_sql(f"ALTER TABLE work_items ADD COLUMN parent_id {kind}")
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_work_items_parent ON work_items (parent_id)"
    )


def _add_fleet_tables(conn: Connection) -> None:
    """Version 7: the fleet's agents and the dispatches they share."""
    metadata.create_all(
        conn, tables=[agents, dispatches, dispatch_slots], checkfirst=True
    )


def _add_deadline_alerts(conn: Connection) -> None:
    """Version 8: the items whose deadline at risk was told."""
    metadata.create_all(conn, tables=[deadline_alerts], checkfirst=True)


#: Every migration, oldest first; ``MIGRATIONS[i]`` upgrades version i to i + 1.
MIGRATIONS: list[Migration] = [
    _create_baseline,
    _add_scheduler_tables,
    _add_console_tables,
    _add_console_notices,
    _add_run_versions,
    _add_item_parents,
    _add_fleet_tables,
    _add_deadline_alerts,
]

#: The PostgreSQL advisory lock that serialises upgrades ("robotlib" in ASCII).
_LOCK_KEY = 0x7270615F736368  # "rpa_sch"

#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)


def stored_version(conn: Connection) -> int | None:
    """Return the database's schema version, or None if it has no tables yet."""
    tables = set(inspect(conn).get_table_names())
    if schema_version.name not in tables:
        return 0 if work_items.name in tables else None
    return conn.scalar(select(schema_version.c.version)) or 0


def _stamp(conn: Connection, version: int) -> None:
    conn.execute(delete(schema_version))
    conn.execute(insert(schema_version).values(version=version))


def upgrade(conn: Connection) -> int:
    """Create or migrate the schema in ``conn``'s transaction; return the version.

    Args:
        conn: a connection inside a transaction the caller commits.

    Returns:
        The version the database had before (0 for an empty one).

    Raises:
        QueueError: the database was written by a newer robotlib.

    Example:
        >>> with engine.begin() as conn:  # doctest: +SKIP
        ...     upgrade(conn)
    """
    current = len(MIGRATIONS)
    if conn.dialect.name == "postgresql":
        # Two processes opening a new database at once (agents starting on two
        # machines) would both create the tables; the second waits here instead.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    version = stored_version(conn)
    if version is None:
        metadata.create_all(conn)
        _stamp(conn, current)
        return 0
    if version > current:
        raise QueueError(
            f"the queue database has schema version {version}, newer than "
            f"version {current} of this robotlib: upgrade robotlib to open it"
        )
    for migration in MIGRATIONS[version:]:
        migration(conn)
    if version < current:
        _stamp(conn, current)
    return version
