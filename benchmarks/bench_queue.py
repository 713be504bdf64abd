"""Queue: claim + complete per second, SQLite and PostgreSQL, 1 and 4 workers.

Each round enqueues 4,000 items into a new database (a new SQLite file; a new
PostgreSQL database, dropped afterwards), then starts N worker processes. Each opens
its own ``SqlAlchemyBackend`` and loops ``claim_next`` → ``complete`` until the
queue is empty. The clock starts when every worker is connected and waiting, and
stops when the last one has finished; enqueueing and start-up are not timed. The
round then checks that every item ended ``done`` and was claimed exactly once.
"""

from __future__ import annotations

import multiprocessing
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from benchmarks.harness import Benchmark, Options

__all__ = [
    "Database",
    "benchmark",
    "check_done_once",
    "drain",
    "enqueue",
    "postgresql_problem",
    "postgresql_version",
    "race",
]

ITEMS = 4_000
QUICK_ITEMS = 400
ROBOT = "bench"
LEASE = timedelta(minutes=10)


def benchmark(options: Options) -> Benchmark:
    """SQLite always; PostgreSQL when the server answers (else said in the notes)."""
    items = QUICK_ITEMS if options.quick else ITEMS
    variants: dict[str, Any] = {}
    for workers in (1, 4):
        folder = options.workdir / f"queue_sqlite_{workers}"
        variants[f"sqlite, {workers} worker{'s' * (workers > 1)}"] = partial(
            drain, "sqlite", str(folder), workers, items
        )
    notes = [
        f"Each round enqueues {items:,} items into a new database (a new SQLite "
        "file; a new PostgreSQL database, dropped afterwards), then starts N worker "
        "processes, each with its own `SqlAlchemyBackend`, looping `claim_next` → "
        "`complete` until the queue is empty. The clock runs from the moment every "
        "worker is connected and waiting until the last one has finished "
        "(enqueueing and start-up are not timed). Every round checks that each item "
        "ended `done`, claimed exactly once."
    ]
    problem = postgresql_problem(options.postgresql_server)
    if problem is None:
        for workers in (1, 4):
            variants[f"postgresql, {workers} worker{'s' * (workers > 1)}"] = partial(
                drain, "postgresql", options.postgresql_server, workers, items
            )
        notes.append(f"PostgreSQL: {postgresql_version(options.postgresql_server)}.")
    else:
        notes.append(f"PostgreSQL variants not run: {problem}.")
    return Benchmark(
        "queue",
        title=f"claim + complete of {items:,} items",
        variants=variants,
        baseline="sqlite, 1 worker",
        unit="items/s",
        rounds=options.rounds_or(5),
        memory=False,
        notes=notes,
    )


def drain(kind: str, where: str, workers: int, items: int) -> dict[str, Any]:
    """One round: a new database, ``items`` items, ``workers`` processes draining it.

    Args:
        kind: ``sqlite`` or ``postgresql``.
        where: a folder for SQLite files, or the PostgreSQL server's URL.
        workers: how many worker processes.
        items: how many items to enqueue.
    """
    with Database(kind, where) as url:
        enqueue(url, items)
        done, seconds = race(_work, url, workers)
        check_done_once(url, items, done)
    return {"units": items, "seconds": seconds}


def _work(url: str, owner: str, ready: Barrier, counts: Any) -> None:
    from robotlib.queue import SqlAlchemyBackend

    backend = SqlAlchemyBackend(url)
    done = 0
    try:
        ready.wait(timeout=120)
        while (item := backend.claim_next(ROBOT, owner=owner, lease=LEASE)) is not None:
            backend.complete(item.id, owner=owner, output={"registered": True})
            done += 1
    finally:
        counts.put(done)
        backend.close()


def race(work: Callable[..., None], where: str, workers: int) -> tuple[int, float]:
    """Start ``workers`` processes ``work(where, owner, ready, counts)``; time them
    from the moment all are connected (``ready``) until each has put its count.

    Returns:
        The items they completed in all, and the seconds it took.
    """
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(workers + 1)
    counts = context.Queue()
    processes = [
        context.Process(target=work, args=(where, f"worker-{n}", ready, counts))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    start = time.perf_counter()
    done = sum(counts.get(timeout=600) for _ in processes)
    seconds = time.perf_counter() - start
    for process in processes:
        process.join(timeout=60)
    return done, seconds


def enqueue(url: str, items: int, robot: str = ROBOT) -> None:
    """``items`` new items ``{"n": n}`` for ``robot``."""
    from robotlib.queue import SqlAlchemyBackend
    from robotlib.queue.models import NewItem

    backend = SqlAlchemyBackend(url)
    try:
        backend.enqueue(
            robot,
            (
                NewItem(reference=f"item-{n:05d}", payload={"n": n})
                for n in range(items)
            ),
        )
    finally:
        backend.close()


def check_done_once(url: str, items: int, done: int, robot: str = ROBOT) -> None:
    """Raise unless every item of ``robot`` is done, claimed exactly once."""
    from robotlib.queue import SqlAlchemyBackend
    from robotlib.queue.models import ItemState

    backend = SqlAlchemyBackend(url)
    try:
        counts = backend.counts(robot)
        claims = {item.claims for item in backend.items(robot)}
    finally:
        backend.close()
    if done != items or counts.get(ItemState.DONE, 0) != items or claims != {1}:
        raise AssertionError(
            f"{items} items, {done} completed by workers, states {counts}, "
            f"claims per item {sorted(claims)}: not exactly once"
        )


class Database:
    """A new database for one round, removed afterwards."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind, self.where = kind, where
        self.name = f"robotlib_bench_{secrets.token_hex(4)}"

    def __enter__(self) -> str:
        if self.kind == "sqlite":
            folder = Path(self.where)
            folder.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{(folder / f'{self.name}.db').as_posix()}"
        self._admin(f'CREATE DATABASE "{self.name}"')
        return f"{self.where}/{self.name}"

    def __exit__(self, *exc: object) -> None:
        if self.kind == "sqlite":
            for path in Path(self.where).glob(f"{self.name}.db*"):
                path.unlink()
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(f"{self.where}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()


def postgresql_problem(server: str) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(f"{server}/postgres")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"no PostgreSQL server at {server} ({str(exc).splitlines()[0]})"
    finally:
        engine.dispose()
    return None


def postgresql_version(server: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{server}/postgres")
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()
