"""Running a robot in several worker processes that share one queue.

``rpa run ROBOT --workers N`` loads the input once, then starts N workers; ``rpa
worker ROBOT --workers N`` starts N workers and loads nothing (more workers, on
another machine, against the same database). Each worker is a child process,
``rpa worker ROBOT --run-id ID``: an :class:`~robotlib.engine.Engine` run that
claims items until the queue is empty, with its own browser, its own run record and
log. Claims are atomic (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), so every item is processed by exactly one worker.

The coordinating process records a run of its own, the one the summary names: its
counts are the workers' together (plus the rows rejected while loading) and it is
completed only when every worker's run completed. Progress is read from the queue.

Workers run in sessions of their own, so a terminal's Ctrl+C reaches only the
coordinator, which passes it on as one SIGTERM per worker: each finishes its
current item and stops. A second Ctrl+C sends a second SIGTERM: stop at once (the
item goes back to the queue). A worker whose coordinator dies (killed at the
scheduler's time limit, say) notices within a second and stops the same way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from robotlib.engine import EXIT_INVALID, EXIT_OK, EXIT_STOPPED, new_run_id
from robotlib.logs import run_log
from robotlib.processes import ask_to_stop, rpa_command, spawn
from robotlib.project import Project
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import EnqueueResult, ItemState, Run, RunStatus

__all__ = ["ParallelResult", "Progress", "run_workers"]

log = structlog.get_logger("robotlib.workers")

#: How often the coordinator reads the queue for progress.
POLL_S = 0.5


@dataclass(frozen=True)
class Progress:
    """How far the workers are: items finished since they started, by outcome."""

    due: int
    done: int
    business_exception: int
    failed: int
    workers_running: int

    @property
    def finished(self) -> int:
        """Items that reached an end state."""
        return self.done + self.business_exception + self.failed


@dataclass(frozen=True)
class ParallelResult:
    """How a run with several workers ended."""

    run_id: str
    robot: str
    status: RunStatus
    run_dir: Path
    counts: dict[str, int]
    loaded: EnqueueResult | None
    worker_runs: list[Run]
    note: str = ""
    exit_code: int = EXIT_OK


def run_workers(
    project: Project,
    robot: str,
    *,
    workers: int,
    input_path: Path | None = None,
    load: bool = True,
    run_id: str | None = None,
    stop: threading.Event | None = None,
    stop_now: threading.Event | None = None,
    on_progress: Callable[[Progress], object] | None = None,
    on_loaded: Callable[[EnqueueResult | None, int], object] | None = None,
) -> ParallelResult:
    """Run ``robot`` in ``workers`` child processes until its queue is empty.

    Args:
        project: the project (its database is the one the workers share).
        robot: the robot's name.
        workers: how many worker processes.
        input_path: the input to load first (default: the source's own).
        load: False: load nothing, only process the queue.
        run_id: the coordinating run's id (the scheduler sets it); default new.
        stop: set it to have each worker stop after its current item.
        stop_now: set it (after ``stop``) to have them stop at once.
        on_progress: told of progress about twice a second.
        on_loaded: told what loading enqueued and how many items are due.
    """
    stop = stop or threading.Event()
    stop_now = stop_now or threading.Event()
    engine = project.engine(robot)  # a ConfigurationError for an unknown robot
    backend = project.backend
    run_id = run_id or new_run_id(backend.clock())
    run_dir = project.settings.logs / robot / run_id  # run_log makes it, private
    loaded: EnqueueResult | None = None
    rejected = 0
    with (
        run_log(run_dir / "events.jsonl"),
        structlog.contextvars.bound_contextvars(robot=robot, run_id=run_id),
    ):
        backend.start_run(run_id, robot, host=socket.gethostname(), pid=os.getpid())
        log.info("run_started", workers=workers, input=str(input_path), load=load)
        try:
            if load:
                loaded, rejected = engine.load(input_path, run_id)
            before = backend.counts(robot)
            if on_loaded is not None:
                on_loaded(loaded, before[ItemState.NEW])
            ids = [f"{run_id}w{number}" for number in range(1, workers + 1)]
            children = [_start_worker(project, robot, id_, run_dir) for id_ in ids]
            log.info("workers_started", runs=ids, pids=[c.pid for c in children])
            _watch(children, stop, stop_now, backend, robot, before, on_progress)
        except BaseException as exc:
            backend.finish_run(
                run_id,
                status=RunStatus.CRASHED,
                counts={"business_exception": rejected} if rejected else {},
                note=project.redactor.redact(f"{type(exc).__name__}: {exc}"),
            )
            raise
        worker_runs = [_worker_run(project, id_) for id_ in ids]
        counts = Counter({"business_exception": rejected} if rejected else {})
        for run in worker_runs:
            counts.update(run.counts)
        stopped = [r for r in worker_runs if r.status is not RunStatus.COMPLETED]
        invalid = any(child.returncode == EXIT_INVALID for child in children)
        status = RunStatus.STOPPED if stopped else RunStatus.COMPLETED
        note = "; ".join(f"{r.id}: {r.status} {r.note}".strip() for r in stopped)
        backend.finish_run(run_id, status=status, counts=dict(counts), note=note)
        log.info("run_finished", status=str(status), counts=dict(counts), note=note)
    exit_code = EXIT_OK if not stopped else EXIT_INVALID if invalid else EXIT_STOPPED
    return ParallelResult(
        run_id,
        robot,
        status,
        run_dir,
        dict(counts),
        loaded,
        worker_runs,
        note,
        exit_code,
    )


def _start_worker(
    project: Project, robot: str, run_id: str, run_dir: Path
) -> subprocess.Popen[bytes]:
    argv = rpa_command(
        project.settings.project_dir,
        *("worker", robot, "--run-id", run_id, "--stop-with-parent"),
    )
    env = dict(os.environ)
    env["RPA_DATABASE_URL"] = project.settings.database
    env["RPA_LOG_DIR"] = str(project.settings.logs)
    return spawn(argv, output=run_dir / f"{run_id}.out", env=env)


def _watch(
    children: list[subprocess.Popen[bytes]],
    stop: threading.Event,
    stop_now: threading.Event,
    backend: QueueBackend,
    robot: str,
    before: dict[ItemState, int],
    on_progress: Callable[[Progress], object] | None,
) -> None:
    """Wait for the workers; pass a stop on; report progress from the queue."""
    told = 0
    while any(child.poll() is None for child in children):
        wanted = 2 if stop_now.is_set() else 1 if stop.is_set() else 0
        while told < wanted:
            told += 1
            for child in children:
                if child.poll() is None:
                    ask_to_stop(child)
            log.warning("workers_stopping", at_once=told == 2)
        if on_progress is not None:
            on_progress(_progress(backend, robot, before, children))
        time.sleep(POLL_S)
    if on_progress is not None:
        on_progress(_progress(backend, robot, before, children))


def _progress(
    backend: QueueBackend,
    robot: str,
    before: dict[ItemState, int],
    children: list[subprocess.Popen[bytes]],
) -> Progress:
    now = backend.counts(robot)

    def grown(state: ItemState) -> int:
        return max(0, now[state] - before[state])

    return Progress(
        due=before[ItemState.NEW],
        done=grown(ItemState.DONE),
        business_exception=grown(ItemState.BUSINESS_EXCEPTION),
        failed=grown(ItemState.FAILED),
        workers_running=sum(1 for child in children if child.poll() is None),
    )


def _worker_run(project: Project, run_id: str) -> Run:
    """A worker's run record; a worker that died before recording one is crashed."""
    try:
        return project.backend.get_run(run_id)
    except KeyError:
        now = datetime.now(UTC)
        return Run(run_id, "", now, now, RunStatus.CRASHED, {}, "", 0, "did not start")
