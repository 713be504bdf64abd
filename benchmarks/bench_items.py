"""Items: the framework's own cost per item, with a robot that does nothing.

Each round enqueues 5,000 items into a new database (a new SQLite file; a new
PostgreSQL database, dropped afterwards), then one of:

- **robotlib**: ``rpa worker noop [--workers N]`` on benchmarks/noop_project, a
  robot whose process returns ``{"registered": True}`` and nothing else. Timed end
  to end, as an operator runs it: the interpreter starting, the robot's
  discovery, the run log, the lease keeper, the run's report, every worker
  process's start;
- **queue loop**: N processes looping the queue's ``claim_next`` → ``complete``
  (bench_queue's loop): what the queue costs, without the engine;
- **psycopg floor** (PostgreSQL): N processes looping a minimal claim in psycopg,
  ``SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1`` then ``UPDATE`` (one transaction),
  and the completion ``UPDATE`` (a second), on a table of its own: what two
  transactions an item cost on this server.

The queue loop and the floor are timed from the moment every process is connected
and waiting to the last one's end; robotlib's start is included in its time. Every
round checks that each item ended done, claimed exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import partial
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from benchmarks.bench_queue import (
    Database,
    check_done_once,
    drain,
    enqueue,
    postgresql_problem,
    postgresql_version,
    race,
)
from benchmarks.harness import Benchmark, Goal, Options, Results

__all__ = ["benchmark", "floor", "robotlib_worker"]

ITEMS = 5_000
QUICK_ITEMS = 300
ROBOT = "noop"
PROJECT = Path(__file__).resolve().with_name("noop_project")
#: Worker processes on PostgreSQL (SQLite runs one: it has one writer).
WIDTHS = (1, 2, 4)


def benchmark(options: Options) -> Benchmark:
    """SQLite at one worker; PostgreSQL at 1, 2 and 4 when the server answers."""
    items = QUICK_ITEMS if options.quick else ITEMS
    sqlite = str(options.workdir / "items_sqlite")
    variants: dict[str, Any] = {
        "queue loop, sqlite": partial(drain, "sqlite", sqlite, 1, items),
        "robotlib, sqlite": partial(
            robotlib_worker, "sqlite", sqlite, 1, items, str(options.workdir)
        ),
    }
    goals = [_per_item("robotlib, sqlite", "queue loop, sqlite")]
    notes = [
        f"Each round enqueues {items:,} items into a new database, then drains it. "
        "robotlib is `rpa worker noop` (benchmarks/noop_project: a process that does "
        "nothing), timed end to end: start-up, the run log, the lease keeper and the "
        "run's report included. The queue loop is N processes calling the queue's "
        "`claim_next` and `complete`; the psycopg floor N processes doing the same "
        "two transactions by hand (`SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1` + "
        "`UPDATE`, then the completing `UPDATE`) on a table of their own; both timed "
        "from the moment every process is connected. Every round checks that each "
        "item ended done, claimed exactly once. `events per item` counts the run "
        "log's lines."
    ]
    server = options.postgresql_server
    problem = postgresql_problem(server)
    if problem is None:
        for width in WIDTHS:
            of = f"{width} worker{'s' * (width > 1)}"
            variants[f"psycopg floor, postgresql, {of}"] = partial(
                floor, server, width, items
            )
            variants[f"queue loop, postgresql, {of}"] = partial(
                drain, "postgresql", server, width, items
            )
            variants[f"robotlib, postgresql, {of}"] = partial(
                robotlib_worker,
                "postgresql",
                server,
                width,
                items,
                str(options.workdir),
            )
        goals.append(
            _per_item(
                "robotlib, postgresql, 1 worker", "queue loop, postgresql, 1 worker"
            )
        )
        goals.append(
            _per_item(
                "robotlib, postgresql, 4 workers", "queue loop, postgresql, 4 workers"
            )
        )
        notes.append(f"PostgreSQL: {postgresql_version(server)}.")
    else:
        notes.append(f"PostgreSQL variants not run: {problem}.")
    return Benchmark(
        "items",
        title=f"the framework's cost per item, {items:,} no-op items",
        variants=variants,
        baseline="queue loop, sqlite",
        unit="items/s",
        goals=goals,
        rounds=options.rounds_or(3),
        memory=False,
        notes=notes,
        extra_columns={"events_per_item": "events per item"},
    )


def _per_item(label: str, loop: str) -> Goal:
    return Goal(
        f"{label}: ≤ 2x the {loop}'s time per item",
        lambda results: _paired_time(results, label, loop),
        at_most=2.0,
        fmt="{:.2f}x",
    )


def _paired_time(results: Results, label: str, other: str) -> float | None:
    return results.paired_ratio(label, other, lambda sample: sample.seconds)


# Variants (each runs in a fresh interpreter) -------------------------------------


def robotlib_worker(
    kind: str, where: str, workers: int, items: int, workdir: str
) -> dict[str, Any]:
    """``rpa worker noop`` draining ``items`` queued items, timed end to end."""
    with Database(kind, where) as url:
        enqueue(url, items, robot=ROBOT)
        logs = Path(workdir) / f"noop-logs-{time.time_ns()}"
        env = {**os.environ, "RPA_DATABASE_URL": url, "RPA_LOG_DIR": str(logs)}
        env.pop("RPA_PROJECT_DIR", None)
        argv = [sys.executable, "-m", "robotlib.cli", "--project", str(PROJECT)]
        argv += ["worker", ROBOT, "--workers", str(workers)]
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"rpa worker failed:\n{done.stdout[-2000:]}{done.stderr}"
            )
        check_done_once(url, items, items, robot=ROBOT)
    events = sum(sum(1 for _ in path.open("rb")) for path in logs.rglob("events.jsonl"))
    return {"units": items, "seconds": seconds, "events_per_item": events / items}


def floor(server: str, workers: int, items: int) -> dict[str, Any]:
    """N processes claiming and completing by hand in psycopg: the floor."""
    with Database("postgresql", server) as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        _floor_table(dsn, items)
        done, seconds = race(_floor_work, dsn, workers)
        _floor_check(dsn, items, done)
    return {"units": items, "seconds": seconds}


def _floor_table(dsn: str, items: int) -> None:
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE floor_items (id bigserial PRIMARY KEY, state text NOT NULL,"
            " owner text, claims int NOT NULL DEFAULT 0, claimed_at timestamptz,"
            " payload jsonb NOT NULL, output jsonb)"
        )
        conn.execute("CREATE INDEX floor_new ON floor_items (id) WHERE state = 'new'")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO floor_items (state, payload) VALUES ('new', %s)",
                [(json.dumps({"n": n}),) for n in range(items)],
            )


def _floor_work(dsn: str, owner: str, ready: Barrier, counts: Any) -> None:
    import psycopg

    done = 0
    try:
        with psycopg.connect(dsn) as conn:
            ready.wait(timeout=120)
            output = json.dumps({"registered": True})
            while True:
                with conn.transaction():
                    row = conn.execute(
                        "SELECT id, payload FROM floor_items WHERE state = 'new'"
                        " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                    ).fetchone()
                    if row is None:
                        break
                    conn.execute(
                        "UPDATE floor_items SET state = 'claimed', owner = %s,"
                        " claims = claims + 1, claimed_at = now() WHERE id = %s",
                        (owner, row[0]),
                    )
                with conn.transaction():
                    conn.execute(
                        "UPDATE floor_items SET state = 'done', output = %s"
                        " WHERE id = %s AND owner = %s AND state = 'claimed'",
                        (output, row[0], owner),
                    )
                done += 1
    finally:
        counts.put(done)


def _floor_check(dsn: str, items: int, done: int) -> None:
    import psycopg

    with psycopg.connect(dsn) as conn:
        states = dict(
            conn.execute(
                "SELECT state || ':' || claims, count(*) FROM floor_items GROUP BY 1"
            ).fetchall()
        )
    if done != items or states != {"done:1": items}:
        raise AssertionError(f"{items} items, {done} completed, {states}")
