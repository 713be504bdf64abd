"""The tables of the project database: work queue, runs, audit, scheduler, console.

Every store of robotlib (the queue, the scheduler's lock and firings, the console's
users and sessions) keeps its rows in these tables of one database, so one
``database`` setting and one backup hold a project's state. The tables in
:data:`metadata` are the current schema; :mod:`robotlib.db.migrations` brings an
older database to it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
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
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "agents",
    "audit_log",
    "deadline_alerts",
    "dispatch_slots",
    "dispatches",
    "item_history",
    "metadata",
    "runs",
    "schedule_firings",
    "scheduler_lock",
    "schema_version",
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
    Column("parent_id", _Id),
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
Index("ix_work_items_parent", work_items.c.parent_id)

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
    Column("robotlib_version", String(64), nullable=False, server_default=""),
    Column("robot_sha256", String(64), nullable=False, server_default=""),
    Column("git_commit", String(40), nullable=False, server_default=""),
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

# The fleet (robotlib.fleet): the robot machines' agents, and the firings whose
# items they share. A dispatch offers ``wanted`` worker slots for one coordinating
# run; an agent takes one by raising ``taken`` (never past ``wanted``) and records
# the worker run it starts for it in ``dispatch_slots``.

agents = Table(
    "agents",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("host", String(255), nullable=False),
    #: The robots it may run (names; ``["*"]``: every robot of the project).
    Column("robots", JSON, nullable=False),
    Column("workers", Integer, nullable=False),
    Column("running", Integer, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("heartbeat_s", Integer, nullable=False),
    #: ``online``, ``draining`` (finishing its items, taking no more), ``offline``.
    Column("state", String(16), nullable=False),
)

dispatches = Table(
    "dispatches",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("robot", String(200), nullable=False),
    Column("run_id", String(100), nullable=False, unique=True),
    Column("wanted", Integer, nullable=False),
    Column("taken", Integer, nullable=False),
    #: 0: carry on; 1: stop after the current item; 2: stop at once.
    Column("stop", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Index("ix_dispatches_open", "closed_at", "robot"),
)

dispatch_slots = Table(
    "dispatch_slots",
    metadata,
    Column(
        "dispatch_id",
        _Id,
        ForeignKey("dispatches.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("slot", Integer, primary_key=True),
    Column("agent", String(100), nullable=False),
    Column("worker_run_id", String(100), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    #: None while its worker runs; then ``ran``, ``died``, ``drained`` or ``lost``.
    Column("ended", String(16)),
)

# Items whose deadline was told to be at risk (robotlib.scheduler._risks): one row
# each, so a warning goes out once, whichever scheduler notices first.
deadline_alerts = Table(
    "deadline_alerts",
    metadata,
    Column("item_id", _Id, primary_key=True),
    Column("deadline", UTCDateTime, nullable=False),
    Column("told_at", UTCDateTime, nullable=False),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)
