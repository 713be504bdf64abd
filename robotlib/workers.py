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

The coordinator supervises its workers. A worker that dies without ending its run
(SIGKILL from the out-of-memory killer, a crash of the interpreter) is recorded
``crashed``, its browser processes are killed, the item it held goes back to the
queue at once (no waiting for its lease; the next claim runs the robot's precheck,
so nothing is registered twice), and a new worker takes its place, up to
``max_restarts`` times per run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog

from robotlib.engine import (
    EXIT_FAILED_ITEMS,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_STOPPED,
    RunResult,
    dead_run_counts,
    ended,
    new_run_id,
)
from robotlib.logs import run_log
from robotlib.processes import ask_to_stop, kill_group, rpa_command, spawn
from robotlib.project import Project
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import EnqueueResult, ItemState, Outcome, Run, RunStatus

__all__ = [
    "LocalWorkers",
    "ParallelResult",
    "Progress",
    "RemoteWorkers",
    "bury_worker",
    "run_workers",
    "start_worker",
]

log = structlog.get_logger("robotlib.workers")

#: How often the coordinator reads the queue for progress.
POLL_S = 0.5
#: How many dead workers a run replaces before it carries on without them.
MAX_RESTARTS = 10
#: Exit codes of a worker that ended its run itself (completed, stopped, invalid,
#: completed with failed items).
ENDED_ITSELF = (EXIT_OK, EXIT_STOPPED, EXIT_INVALID, EXIT_FAILED_ITEMS)
#: A worker's run that ran to its end (its own failed items are the whole run's).
RAN_TO_END = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_FAILURES)


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
class ParallelResult(RunResult):
    """How a run with several workers ended: a run's result, with the workers'
    own runs (replacements included), how many there were and were replaced."""

    worker_runs: list[Run] = field(default_factory=list)
    workers: int = 0
    restarts: int = 0


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
    max_restarts: int = MAX_RESTARTS,
    elsewhere: Callable[[LocalWorkers, str], RemoteWorkers] | None = None,
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
        max_restarts: how many workers that died are replaced, at most.
        elsewhere: makes the workers of other machines (the fleet's agents,
            :class:`robotlib.fleet.RemoteCrew`), given a way to start one here
            and the coordinating run's id:
            ``workers`` are offered there first; none taken: they run here.
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
        backend.start_run(
            run_id,
            robot,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=engine.version,
        )
        log.info("run_started", workers=workers, input=str(input_path), load=load)
        try:
            if load:
                loaded, rejected = engine.load(input_path, run_id)
            before = backend.counts(robot)
            if on_loaded is not None:
                on_loaded(loaded, before[ItemState.NEW])
            crew = _Crew(project, robot, run_id, run_dir, max_restarts)
            crews: list[_Crew | RemoteWorkers] = [crew]
            remote, taken = None, 0
            if elsewhere is not None:
                remote = elsewhere(crew, run_id)
                crews.append(remote)
                taken = remote.start(workers, stop)
            if not taken:
                for _ in range(workers):
                    crew.start()
                log.info("workers_started", runs=crew.ids, pids=crew.pids)
            try:
                _watch(crews, stop, stop_now, backend, robot, before, on_progress)
            finally:
                if remote is not None:
                    remote.close()
        except BaseException as exc:
            backend.finish_run(
                run_id,
                status=RunStatus.CRASHED,
                counts={Outcome.BUSINESS_EXCEPTION: rejected} if rejected else {},
                note=project.redactor.redact(f"{type(exc).__name__}: {exc}"),
            )
            raise
        remote_ids = remote.ids if remote is not None else []
        worker_runs = [_worker_run(project, id_) for id_ in crew.ids + remote_ids]
        counts: Counter[str] = Counter(
            {Outcome.BUSINESS_EXCEPTION: rejected} if rejected else {}
        )
        for run in worker_runs:
            counts.update(run.counts)
        last = {run.id: run for run in worker_runs}
        last_ids = crew.last_ids + (remote.last_ids if remote is not None else [])
        stopped = [last[id_] for id_ in last_ids]
        stopped = [r for r in stopped if r.status not in RAN_TO_END]
        invalid = any(code == EXIT_INVALID for code in crew.exit_codes)
        status, exit_code = ended(
            RunStatus.STOPPED if stopped else RunStatus.COMPLETED,
            counts[Outcome.FAILED],
            project.settings,
        )
        if stopped and invalid:
            exit_code = EXIT_INVALID
        notes = [f"{r.id}: {r.status} {r.note}".strip() for r in stopped]
        if crew.deaths:
            notes.append(crew.death_note())
        if remote is not None and remote.deaths:
            notes.append(remote.death_note())
        note = "; ".join(notes)
        backend.finish_run(run_id, status=status, counts=dict(counts), note=note)
        log.info("run_finished", status=str(status), counts=dict(counts), note=note)
    return ParallelResult(
        run_id,
        robot,
        status,
        run_dir,
        dict(counts),
        loaded,
        note,
        exit_code,
        worker_runs=worker_runs,
        workers=workers,
        restarts=crew.restarts + (remote.restarts if remote is not None else 0),
    )


class LocalWorkers(Protocol):
    """What the coordinator's own workers offer the workers elsewhere."""

    def start(self, slot: int | None = None) -> str:
        """Start a worker on this machine; return its run id."""
        ...


class RemoteWorkers(Protocol):
    """Workers of a run on other machines (:class:`robotlib.fleet.RemoteCrew`)."""

    deaths: list[str]
    restarts: int

    @property
    def ids(self) -> list[str]:
        """Their runs, in order."""
        ...

    @property
    def last_ids(self) -> list[str]:
        """Their runs not replaced by another."""
        ...

    def start(self, workers: int, stop: threading.Event) -> int:
        """Offer ``workers``; return how many were taken (0: run them here)."""
        ...

    def tend(self, *, stopping: bool) -> None:
        """Deal with workers that ended; replace the dead."""
        ...

    def active(self) -> int:
        """How many run or are wanted."""
        ...

    def tell_stop(self, level: int) -> None:
        """Pass a stop on: 1 after their item, 2 at once."""
        ...

    def death_note(self) -> str:
        """The run's note on the workers that ended early."""
        ...

    def close(self) -> None:
        """Release what they hold."""
        ...


@dataclass
class _Crew:
    """The coordinator's workers: starts them, and replaces one that dies."""

    project: Project
    robot: str
    run_id: str
    run_dir: Path
    max_restarts: int
    #: Every worker run started, in order; ``slots`` holds the current ones.
    ids: list[str] = field(default_factory=list)
    slots: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    deaths: list[str] = field(default_factory=list)
    restarts: int = 0
    #: Worker runs whose end was dealt with.
    tended: set[str] = field(default_factory=set)

    @property
    def pids(self) -> list[int]:
        return [child.pid for _, child in self.slots]

    @property
    def last_ids(self) -> list[str]:
        return [id_ for id_, _ in self.slots]

    def running(self) -> list[subprocess.Popen[bytes]]:
        return [child for _, child in self.slots if child.poll() is None]

    def active(self) -> int:
        """How many of its workers run."""
        return len(self.running())

    def tell_stop(self, level: int) -> None:
        """Pass a stop on: SIGTERM to each worker (the second one: at once)."""
        for child in self.running():
            ask_to_stop(child)

    def start(self, slot: int | None = None) -> str:
        """Start a worker (in ``slot``: in place of a dead one); return its run id."""
        run_id = f"{self.run_id}w{len(self.ids) + 1}"
        child = start_worker(self.project, self.robot, run_id, self.run_dir)
        self.ids.append(run_id)
        if slot is None:
            self.slots.append((run_id, child))
        else:
            self.slots[slot] = (run_id, child)
        return run_id

    def tend(self, *, stopping: bool) -> None:
        """Deal with workers that ended since the last look: replace the dead."""
        for slot, (run_id, child) in enumerate(self.slots):
            code = child.poll()
            if code is None or run_id in self.tended:
                continue
            self.tended.add(run_id)
            if code in ENDED_ITSELF and not self._run_unfinished(run_id):
                # ended its run, or could not start one (an invalid robot, say):
                # a replacement would only fail the same way
                self.exit_codes.append(code)
                continue
            self._bury(run_id, child, code)
            if stopping or self.restarts >= self.max_restarts:
                log.error("worker_not_replaced", run=run_id, restarts=self.restarts)
                continue
            self.restarts += 1
            replacement = self.start(slot)
            log.warning("worker_replaced", run=run_id, by=replacement)

    def death_note(self) -> str:
        replaced = f"{self.restarts} replaced" if self.restarts else "none replaced"
        return f"workers died: {', '.join(self.deaths)} ({replaced})"

    def _run_unfinished(self, run_id: str) -> bool:
        """Whether the worker recorded its run and did not finish it."""
        try:
            return self.project.backend.get_run(run_id).finished_at is None
        except KeyError:
            return False

    def _bury(self, run_id: str, child: subprocess.Popen[bytes], code: int) -> None:
        how = bury_worker(self.project, self.robot, run_id, child, code)
        self.deaths.append(f"{run_id} {how}")


def bury_worker(
    project: Project,
    robot: str,
    run_id: str,
    child: subprocess.Popen[bytes],
    code: int,
) -> str:
    """Record a dead worker's run crashed, give its item back; say how it died.

    Only for a child of this process that has ended: it is known to be dead, so
    its item goes back to the queue at once (the next claim runs the precheck).
    """
    how = _how_it_died(code)
    kill_group(child)  # its browser, which would otherwise live on
    backend = project.backend
    recovered = backend.recover_run(run_id, note=f"worker {run_id} {how}")
    counts = dead_run_counts(backend, robot, run_id)
    try:
        backend.finish_run(run_id, status=RunStatus.CRASHED, counts=counts, note=how)
    except KeyError:
        pass  # it died before it recorded its run
    log.error(
        "worker_died",
        run=run_id,
        pid=child.pid,
        how=how,
        items_returned=[item.id for item in recovered],
    )
    return how


def _how_it_died(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code} without ending its run"


def start_worker(
    project: Project, robot: str, run_id: str, run_dir: Path
) -> subprocess.Popen[bytes]:
    """Start ``rpa worker ROBOT --run-id RUN_ID``, its output in ``run_dir``."""
    argv = rpa_command(
        project.settings.project_dir,
        *("worker", robot, "--run-id", run_id, "--stop-with-parent"),
    )
    env = dict(os.environ)
    env["RPA_DATABASE_URL"] = project.settings.database
    env["RPA_LOG_DIR"] = str(project.settings.logs)
    return spawn(argv, output=run_dir / f"{run_id}.out", env=env)


def _watch(
    crews: Sequence[_Crew | RemoteWorkers],
    stop: threading.Event,
    stop_now: threading.Event,
    backend: QueueBackend,
    robot: str,
    before: dict[ItemState, int],
    on_progress: Callable[[Progress], object] | None,
) -> None:
    """Wait for the workers; replace the dead; pass a stop on; report progress."""
    told = 0
    while True:
        for crew in crews:
            crew.tend(stopping=stop.is_set())
        running = sum(crew.active() for crew in crews)
        if not running:
            break
        wanted = 2 if stop_now.is_set() else 1 if stop.is_set() else 0
        while told < wanted:
            told += 1
            for crew in crews:
                crew.tell_stop(told)
            log.warning("workers_stopping", at_once=told == 2)
        if on_progress is not None:
            on_progress(_progress(backend, robot, before, running))
        time.sleep(POLL_S)
    if on_progress is not None:
        on_progress(_progress(backend, robot, before, 0))


def _progress(
    backend: QueueBackend,
    robot: str,
    before: dict[ItemState, int],
    running: int,
) -> Progress:
    now = backend.counts(robot)

    def grown(state: ItemState) -> int:
        return max(0, now[state] - before[state])

    return Progress(
        due=before[ItemState.NEW],
        done=grown(ItemState.DONE),
        business_exception=grown(ItemState.BUSINESS_EXCEPTION),
        failed=grown(ItemState.FAILED),
        workers_running=running,
    )


def _worker_run(project: Project, run_id: str) -> Run:
    """A worker's run record; a worker that died before recording one is crashed."""
    try:
        return project.backend.get_run(run_id)
    except KeyError:
        now = datetime.now(UTC)
        return Run(run_id, "", now, now, RunStatus.CRASHED, {}, "", 0, "did not start")
