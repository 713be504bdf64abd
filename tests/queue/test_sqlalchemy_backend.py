"""What the SQL backend adds to the contract: several processes, a real file, errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from robotlib.db import connection
from robotlib.errors import QueueError
from robotlib.queue import ItemState, NewItem, RunStatus, SqlAlchemyBackend

ROBOT = "lab_results"
LEASE = timedelta(minutes=5)
CPR = "010190-1234"

MakeBackend = Callable[[], SqlAlchemyBackend]


def test_workers_on_one_file_never_claim_the_same_item(
    make_sqlite_backend: MakeBackend,
) -> None:
    """Four workers, each with its own backend on the file, claim every item once."""
    loader = make_sqlite_backend()
    loader.enqueue(ROBOT, [NewItem(f"row-{n}", {"n": n}) for n in range(200)])
    workers = [make_sqlite_backend() for _ in range(4)]
    start = threading.Barrier(len(workers))

    def work(backend: SqlAlchemyBackend) -> list[int]:
        owner, claimed = f"worker-{id(backend)}", []
        start.wait()
        while item := backend.claim_next(ROBOT, owner=owner, lease=LEASE):
            claimed.append(item.id)
        return claimed

    with ThreadPoolExecutor(len(workers)) as pool:
        claimed = [i for ids in pool.map(work, workers) for i in ids]

    assert list(range(1, 201)) == sorted(claimed)
    assert 200 == loader.counts(ROBOT)[ItemState.IN_PROGRESS]


def test_data_survives_reopening(make_sqlite_backend: MakeBackend) -> None:
    """A second backend on the same file sees what the first one stored."""
    first = make_sqlite_backend()
    first.enqueue(ROBOT, [NewItem("r1", {"cpr": CPR, "value": 7.1})])
    item = first.claim_next(ROBOT, owner="w1", lease=LEASE, run_id="run-1")
    first.close()

    reopened = make_sqlite_backend()

    assert [item] == reopened.items(ROBOT)


def test_datetimes_come_back_timezone_aware(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """Every stored datetime is read back aware and in UTC, and stored as UTC."""
    backend = make_sqlite_backend()
    now = backend.clock()
    backend.enqueue(ROBOT, [NewItem("r1", {}, deadline=now, not_before=now)])
    item = backend.claim_next(ROBOT, owner="w1", lease=LEASE)
    assert item is not None
    backend.business_exception(item.id, owner="w1", error_type="E", message="m")
    backend.resolve([item.id], actor="op", note="by hand")
    backend.start_run("run-1", ROBOT, host="h", pid=1)
    backend.finish_run("run-1", status=RunStatus.COMPLETED, counts={})

    records: list[Any] = [
        *backend.items(),
        *backend.history(item.id),
        *backend.runs(),
        *backend.audit_log(),
    ]
    stamps = [
        getattr(record, f.name)
        for record in records
        for f in fields(record)
        if isinstance(getattr(record, f.name), datetime)
    ]

    assert 12 == len(stamps)
    assert {UTC} == {stamp.tzinfo for stamp in stamps}
    with closing(sqlite3.connect(sqlite_path)) as raw:
        stored = raw.execute("SELECT created_at FROM work_items").fetchone()[0]
    assert "2026-03-01 22:00:00.000000" == stored


def test_database_file_is_created_owner_only(
    make_sqlite_backend: MakeBackend, sqlite_path: Path
) -> None:
    """Opening creates the file and its folder; on POSIX only the owner may read it."""
    make_sqlite_backend()

    mode = stat.S_IMODE(sqlite_path.stat().st_mode)
    assert (True, 0o600 if os.name == "posix" else mode) == (
        sqlite_path.is_file(),
        mode,
    )


def test_unwritable_path_raises_queue_error(tmp_path: Path) -> None:
    """A database path that cannot be created gives a QueueError naming it."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    path = blocker / "queue.db"

    with pytest.raises(QueueError, match="cannot create the queue database") as raised:
        SqlAlchemyBackend(f"sqlite:///{path.as_posix()}")
    assert str(path) in str(raised.value)


def test_corrupt_database_raises_queue_error(
    sqlite_path: Path, sqlite_url: str
) -> None:
    """A file that is not a SQLite database gives a QueueError naming it."""
    sqlite_path.parent.mkdir()
    sqlite_path.write_bytes(b"this is not a database, just text " * 100)

    with pytest.raises(QueueError, match="not a database") as raised:
        SqlAlchemyBackend(sqlite_url)
    assert sqlite_path.as_posix() in str(raised.value)


def test_locked_database_raises_queue_error_without_patient_data(
    make_sqlite_backend: MakeBackend,
    sqlite_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write lock held too long gives a QueueError that shows no parameters."""
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 20)
    backend = make_sqlite_backend()
    with closing(sqlite3.connect(sqlite_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(QueueError, match="database is locked") as raised:
            backend.enqueue(ROBOT, [NewItem("r1", {"cpr": CPR})])
        other.execute("ROLLBACK")

    assert (False, False) == (
        CPR in str(raised.value),
        CPR in str(raised.value.__cause__),
    )
    assert 0 == len(backend.items())


def test_invalid_url_raises_queue_error() -> None:
    """A malformed database URL gives a QueueError."""
    with pytest.raises(QueueError, match="invalid queue database URL"):
        SqlAlchemyBackend("no url at all")


def test_claim_is_served_by_the_claim_index(sqlite_url: str) -> None:
    """The claim query walks ix_work_items_claim in order, without sorting."""
    engine = connection.database_engine(sqlite_url)
    seen: list[tuple[str, Any]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, params: Any, *_args: Any
    ) -> None:
        if "ORDER BY work_items.priority DESC" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    backend = SqlAlchemyBackend(engine)
    backend.enqueue(ROBOT, [NewItem("r1", {})])
    backend.claim_next(ROBOT, owner="w1", lease=LEASE)
    [(statement, params)] = seen
    with engine.connect() as conn:
        plan = " ".join(
            row[-1]
            for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        )
    backend.close()
    engine.dispose()

    assert (True, False) == ("INDEX ix_work_items_claim" in plan, "B-TREE" in plan)


def _open_at_once(url: str, start: Any, failures: Any) -> None:
    start.wait()
    try:
        backend = SqlAlchemyBackend(url)
        backend.counts("r")
        backend.close()
    except QueueError as exc:
        failures.put(str(exc))


@pytest.mark.skipif(os.name != "posix", reason="fork")
@pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)
def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """A run and its workers (or the scheduler and a console) may open a fresh
    project's database at the same moment. Switching it to WAL needs the file
    alone for a moment, and SQLite said "database is locked" at once (about one
    round in 40 with three processes); now it tries again."""
    import multiprocessing

    # fork, not spawn: the children must start within microseconds of each other
    # to meet the race (with forkserver or spawn the test never failed before the
    # fix); they touch nothing but SQLite, so the threads of pytest do not matter
    fork = multiprocessing.get_context("fork")
    failures = fork.Queue()
    for round_ in range(40):
        url = f"sqlite:///{tmp_path / f'fresh-{round_}.db'}"
        start = fork.Event()
        openers = [
            fork.Process(target=_open_at_once, args=(url, start, failures))
            for _ in range(4)
        ]
        for process in openers:
            process.start()
        start.set()
        for process in openers:
            process.join(timeout=60)
    assert failures.empty(), failures.get()
