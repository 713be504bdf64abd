"""The tables of the SQL work queue and the migrations that keep databases current.

The tables in :data:`metadata` are the current schema. ``schema_version`` holds one
row: the number of migrations the database has had. :func:`upgrade` runs when a
backend opens a database, inside one transaction (on SQLite a ``BEGIN IMMEDIATE``
one, so two processes opening the same file do not race):

- an empty database gets the current tables and the current version;
- an older one gets the missing migrations, in order; a failure rolls all back;
- a newer one (written by a newer robotlib) is refused with a :class:`QueueError`
  naming both versions, rather than being written to by code that does not know it.

Version 0 is a database whose tables have no ``schema_version`` row (or table).
Migration 1 is the baseline: it creates whatever table is missing.

How to add a migration (say, a column ``work_items.batch``):

1. Change the table below (``Column("batch", String(100), nullable=True)``), so new
   databases get it.
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
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    inspect,
    select,
)
from sqlalchemy.types import TypeDecorator

from robotlib.errors import QueueError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "UTCDateTime",
    "audit_log",
    "item_history",
    "metadata",
    "runs",
    "schedule_firings",
    "scheduler_lock",
    "schema_version",
    "stored_version",
    "upgrade",
    "work_items",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored in UTC and always read back timezone-aware.

    SQLite keeps no time zone: values are stored as naive UTC there and get their
    ``tzinfo`` back on reading. PostgreSQL stores ``timestamp with time zone``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        """Convert an aware datetime to UTC; refuse a naive one."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a naive datetime cannot be stored: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        """Return the stored time as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Integer on SQLite, where only INTEGER PRIMARY KEY is the auto-incrementing rowid.
_Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

work_items = Table(
    "work_items",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("robot", String(200), nullable=False),
    Column("reference", String(500), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("not_before", UTCDateTime),
    Column("deadline", UTCDateTime),
    Column("attempts", Integer, nullable=False),
    Column("claims", Integer, nullable=False),
    Column("finished_stages", JSON, nullable=False),
    Column("lease_owner", String(200)),
    Column("lease_expires", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("output", JSON, nullable=False),
    Column("error_type", String(200)),
    Column("error_message", Text),
    Column("artifacts", JSON, nullable=False),
    Column("run_id", String(100)),
    UniqueConstraint("robot", "reference", name="uq_work_items_robot_reference"),
    # Ids are never reused, even after a purge: history and audit entries name them.
    sqlite_autoincrement=True,
)

# claim_next walks this index in its ORDER BY: priority high first, then deadline
# with none last (``deadline IS NULL`` false first), then id.
Index(
    "ix_work_items_claim",
    work_items.c.robot,
    work_items.c.state,
    work_items.c.priority.desc(),
    work_items.c.deadline.is_(None),
    work_items.c.deadline,
    work_items.c.id,
)
Index("ix_work_items_lease", work_items.c.state, work_items.c.lease_expires)
Index("ix_work_items_run", work_items.c.run_id)

item_history = Table(
    "item_history",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column(
        "item_id",
        _Id,
        ForeignKey("work_items.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("from_state", String(32)),
    Column("to_state", String(32), nullable=False),
    Column("run_id", String(100)),
    Column("note", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("robot", String(200), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(32), nullable=False),
    Column("counts", JSON, nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("note", Text, nullable=False),
    Index("ix_runs_robot_started", "robot", "started_at"),
)

# item_id has no foreign key: the audit trail outlives purged items.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("item_id", _Id, index=True),
    Column("note", Text, nullable=False),
)

# The scheduler's tables: who holds the scheduler lock (where no PostgreSQL advisory
# lock exists), and every firing of a scheduled job with its outcome.

scheduler_lock = Table(
    "scheduler_lock",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

schedule_firings = Table(
    "schedule_firings",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("robot", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("scheduled_for", UTCDateTime),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(32), nullable=False),
    Column("exit_code", Integer),
    Column("run_id", String(100)),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("note", Text, nullable=False),
    Column("attention", Text),
    Index("ix_schedule_firings_job", "job", "started_at"),
    Index("ix_schedule_firings_robot_status", "robot", "status"),
)

# The operator console's tables: its user accounts (argon2 password hashes), their
# sessions (only a hash of each session token is kept), and the schedules an
# operator has paused (the scheduler skips their firings until resumed).

console_users = Table(
    "console_users",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    #: The console's language for this user (``da``, ``en``); None: the browser's.
    Column("language", String(16), nullable=True),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "user_name",
        String(100),
        ForeignKey("console_users.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    #: A notice for the next page (post/redirect/get), shown once, never from a URL.
    Column("notice", Text, nullable=True),
)

schedule_pauses = Table(
    "schedule_pauses",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("paused_by", String(200), nullable=False),
    Column("paused_at", UTCDateTime, nullable=False),
    Column("note", Text, nullable=False),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)


# Migrations --------------------------------------------------------------------------

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


#: Every migration, oldest first; ``MIGRATIONS[i]`` upgrades version i to i + 1.
MIGRATIONS: list[Migration] = [
    _create_baseline,
    _add_scheduler_tables,
    _add_console_tables,
    _add_console_notices,
]

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
