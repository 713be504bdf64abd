"""Schema versions: new databases are stamped, old ones migrated, newer ones refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection

from robotlib.db import migrations
from robotlib.errors import QueueError
from robotlib.queue import Handoff, NewItem, SqlAlchemyBackend
from robotlib.versions import CodeVersion

ROBOT = "lab_results"

MakeBackend = Callable[[], SqlAlchemyBackend]


def run_sql(path: Path, *statements: str) -> list[tuple[object, ...]]:
    """Run statements on the file directly, as an old or newer robotlib would have."""
    with closing(sqlite3.connect(path)) as raw, raw:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            rows = raw.execute(statement).fetchall()
        return rows


def stored_version(path: Path) -> list[tuple[object, ...]]:
    """Return the rows of schema_version."""
    return run_sql(path, "SELECT version FROM schema_version")


def with_data(make_backend: MakeBackend) -> list[str]:
    """Store two items in a fresh database and close it; return their references."""
    backend = make_backend()
    backend.enqueue(ROBOT, [NewItem("r1", {"v": 1}), NewItem("r2", {"v": 2})])
    backend.close()
    return ["r1", "r2"]


def test_new_database_gets_the_current_version(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """An empty database gets every table and the current schema version."""
    make_sqlite_backend()

    assert [(migrations.SCHEMA_VERSION,)] == stored_version(sqlite_path)


@pytest.mark.parametrize(
    "make_version_0",
    ["DROP TABLE schema_version", "UPDATE schema_version SET version = 0"],
    ids=["no-version-table", "version-row-0"],
)
def test_version_0_database_is_migrated_keeping_its_data(
    make_sqlite_backend: MakeBackend, sqlite_path: Path, make_version_0: str
) -> None:
    """A version-0 database is brought to the current version with its items."""
    references = with_data(make_sqlite_backend)
    run_sql(sqlite_path, make_version_0)

    backend = make_sqlite_backend()

    assert [(migrations.SCHEMA_VERSION,)] == stored_version(sqlite_path)
    assert references == [item.reference for item in backend.items(ROBOT)]


def test_version_1_database_gets_the_scheduler_tables(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """A database of robotlib before the scheduler gets its tables, items kept."""
    references = with_data(make_sqlite_backend)
    run_sql(
        sqlite_path,
        "DROP TABLE schedule_firings",
        "DROP TABLE scheduler_lock",
        "UPDATE schema_version SET version = 1",
    )

    backend = make_sqlite_backend()

    tables = {
        row[0]
        for row in run_sql(sqlite_path, "SELECT name FROM sqlite_master")
        if isinstance(row[0], str)
    }
    assert {"schedule_firings", "scheduler_lock"} <= tables
    assert [(migrations.SCHEMA_VERSION,)] == stored_version(sqlite_path)
    assert references == [item.reference for item in backend.items(ROBOT)]


def test_version_2_database_gets_the_console_tables(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """A database of robotlib before the console gets its tables, items kept."""
    references = with_data(make_sqlite_backend)
    run_sql(
        sqlite_path,
        "DROP TABLE console_sessions",
        "DROP TABLE console_users",
        "DROP TABLE schedule_pauses",
        "UPDATE schema_version SET version = 2",
    )

    backend = make_sqlite_backend()

    tables = {
        row[0]
        for row in run_sql(sqlite_path, "SELECT name FROM sqlite_master")
        if isinstance(row[0], str)
    }
    assert {"console_users", "console_sessions", "schedule_pauses"} <= tables
    assert [(migrations.SCHEMA_VERSION,)] == stored_version(sqlite_path)
    assert references == [item.reference for item in backend.items(ROBOT)]


def test_new_migrations_run_once_in_order(
    make_sqlite_backend: MakeBackend,
    sqlite_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Migrations added since a database was written run once, in order."""
    references = with_data(make_sqlite_backend)
    ran: list[str] = []

    def add_batch(conn: Connection) -> None:
        ran.append("add_batch")
        conn.exec_driver_sql("ALTER TABLE work_items ADD COLUMN batch VARCHAR(100)")

    def fill_batch(conn: Connection) -> None:
        ran.append("fill_batch")
        conn.exec_driver_sql("UPDATE work_items SET batch = 'first'")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, add_batch, fill_batch]
    )

    backend = make_sqlite_backend()
    make_sqlite_backend()

    assert ["add_batch", "fill_batch"] == ran
    assert [(migrations.SCHEMA_VERSION + 2,)] == stored_version(sqlite_path)
    assert [("first",), ("first",)] == run_sql(
        sqlite_path, "SELECT batch FROM work_items"
    )
    assert references == [item.reference for item in backend.items(ROBOT)]


def test_failed_migration_changes_nothing(
    make_sqlite_backend: MakeBackend,
    sqlite_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A migration that fails rolls back the ones before it, and the error is clear."""
    with_data(make_sqlite_backend)

    def add_batch(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE work_items ADD COLUMN batch VARCHAR(100)")

    def broken(conn: Connection) -> None:
        conn.exec_driver_sql("UPDATE no_such_table SET x = 1")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, add_batch, broken]
    )

    with pytest.raises(QueueError, match="no such table"):
        make_sqlite_backend()

    columns = [row[1] for row in run_sql(sqlite_path, "PRAGMA table_info(work_items)")]
    assert (False, [(migrations.SCHEMA_VERSION,)]) == (
        "batch" in columns,
        stored_version(sqlite_path),
    )


def test_newer_database_is_refused(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """A database written by a newer robotlib is refused, naming both versions."""
    with_data(make_sqlite_backend)
    newer = migrations.SCHEMA_VERSION + 1
    run_sql(sqlite_path, f"UPDATE schema_version SET version = {newer}")

    with pytest.raises(QueueError) as raised:
        make_sqlite_backend()

    message = str(raised.value)
    assert (True, True) == (
        f"schema version {newer}" in message,
        f"version {migrations.SCHEMA_VERSION} of this robotlib" in message,
    )
    assert [(newer,)] == stored_version(sqlite_path)


def test_version_3_database_gets_notices_and_languages(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """A database of robotlib before console notices keeps its users and sessions."""
    references = with_data(make_sqlite_backend)
    run_sql(
        sqlite_path,
        "ALTER TABLE console_sessions DROP COLUMN notice",
        "ALTER TABLE console_users DROP COLUMN language",
        "INSERT INTO console_users VALUES ('anna', 'operator', 'x', "
        "'2026-12-01 00:00:00', '2026-12-01 00:00:00')",
        "UPDATE schema_version SET version = 3",
    )

    backend = make_sqlite_backend()

    def columns(table: str) -> set[object]:
        return {row[1] for row in run_sql(sqlite_path, f"PRAGMA table_info({table})")}

    assert "notice" in columns("console_sessions")
    assert "language" in columns("console_users")
    assert [("anna", None)] == run_sql(
        sqlite_path, "SELECT name, language FROM console_users"
    )
    assert [(migrations.SCHEMA_VERSION,)] == stored_version(sqlite_path)
    assert references == [item.reference for item in backend.items(ROBOT)]


def test_version_4_database_gets_run_versions(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """Runs recorded before robotlib kept the code they ran keep their rows, with
    "" for the code; new runs record it."""
    make_sqlite_backend().close()
    run_sql(
        sqlite_path,
        "ALTER TABLE runs DROP COLUMN robotlib_version",
        "ALTER TABLE runs DROP COLUMN robot_sha256",
        "ALTER TABLE runs DROP COLUMN git_commit",
        "INSERT INTO runs (id, robot, started_at, status, counts, host, pid, note)"
        " VALUES ('old', 'lab', '2026-12-01 00:00:00', 'completed', '{}', 'h', 1, '')",
        "UPDATE schema_version SET version = 4",
    )

    backend = make_sqlite_backend()
    code = CodeVersion("0.1.0", "ab" * 32, "")
    backend.start_run("new", ROBOT, host="h", pid=1, version=code)

    assert (CodeVersion(), code) == (
        backend.get_run("old").code,
        backend.get_run("new").code,
    )
    assert [(migrations.SCHEMA_VERSION,)] == stored_version(sqlite_path)


def test_version_5_database_gets_item_parents(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """Items enqueued before hand-offs keep their rows, without a parent; a
    completion can hand an item off afterwards."""
    references = with_data(make_sqlite_backend)
    run_sql(
        sqlite_path,
        "DROP INDEX ix_work_items_parent",
        "ALTER TABLE work_items DROP COLUMN parent_id",
        "UPDATE schema_version SET version = 5",
    )

    backend = make_sqlite_backend()
    parent = backend.claim_next(ROBOT, owner="w", lease=timedelta(minutes=5))
    assert parent is not None
    handoff = Handoff("letters", NewItem("letter", {}))
    backend.complete(parent.id, owner="w", output={}, handoffs=[handoff])

    assert references == [item.reference for item in backend.items(ROBOT)]
    assert [None, None] == [item.parent_id for item in backend.items(ROBOT)]
    assert [parent.id] == [item.parent_id for item in backend.items("letters")]
    assert [(migrations.SCHEMA_VERSION,)] == stored_version(sqlite_path)
