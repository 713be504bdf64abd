"""``rpa agent``: the service on each robot machine that runs its share of the work.

An agent registers its machine in the project database (``agents``: its name, host,
the robots it may run, how many workers at most), beats every ``heartbeat_s``
seconds, and waits for work: ``LISTEN rpa_work`` on PostgreSQL, a look every
``poll_s`` seconds on SQLite. When a coordinating run offers worker slots for a
robot it may run (:mod:`._dispatches`), it takes what it has room for, starts one
``rpa worker ROBOT --run-id ID`` per slot and supervises them as ``rpa run
--workers`` does its own: a worker that dies without ending its run is recorded
crashed and its item goes back to the queue at once (it is this agent's child:
known to be dead).

While several agents are live, each first takes its share of a new dispatch (the
slots divided by the live agents that may run the robot, rounded up), and any
slot still open after :data:`SHARE_S` seconds: the work spreads across machines,
and no slot waits for a machine that is full.

Stopping: the first SIGTERM (or Ctrl+C) drains the agent: it takes no more slots
(its row says ``draining``), asks each worker to stop after its current item,
waits for them, and leaves ``offline``. A second stops the workers at once (their
items go back to the queue). A coordinating run that asks its workers to stop
(``dispatches.stop``) or has ended is passed on the same way.

An agent that dies (SIGKILL, a machine that stops) stops beating: the next one to
look marks it offline and notifies (:mod:`._gone`). Its workers, when they live on,
see their parent gone and stop after their current item; on a machine that
stopped, their items come back when their leases expire.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from robotlib.db import database_engine
from robotlib.errors import ConfigurationError, QueueError
from robotlib.fleet._agents import ANY_ROBOT, AgentState, AgentStore
from robotlib.fleet._dispatches import Dispatch, DispatchStore, Slot, SlotEnd
from robotlib.fleet._gone import GoneAgents
from robotlib.fleet._wake import Waker
from robotlib.notify import Notifier
from robotlib.processes import ask_to_stop
from robotlib.project import Project
from robotlib.queue.base import utc_now
from robotlib.queue.models import Run, RunStatus
from robotlib.workers import bury_worker, start_worker

__all__ = ["SHARE_S", "Agent", "AgentOptions"]

log = structlog.get_logger("robotlib.fleet")

#: How long a new dispatch is shared out before any agent may take any open slot.
SHARE_S = 2.0
#: How often an agent with workers looks at them (and at stop requests).
TEND_S = 0.5


@dataclass(frozen=True)
class AgentOptions:
    """How an agent is set up.

    Attributes:
        name: its name in the fleet (default: the host name).
        robots: the robots it may run; ``("*",)``: every robot of the project.
        workers: how many worker processes it runs at most, across robots.
        heartbeat_s: seconds between beats; gone after 3 missed.
        poll_s: on SQLite, seconds between looks for work.
    """

    name: str
    robots: tuple[str, ...] = (ANY_ROBOT,)
    workers: int = 1
    heartbeat_s: int = 10
    poll_s: float = 5.0


@dataclass
class _Worker:
    """One worker process this agent started for a slot."""

    slot: Slot
    robot: str
    child: subprocess.Popen[bytes]
    #: How many times it was asked to stop (1: after its item; 2: at once).
    told: int = 0
    drained: bool = False


@dataclass
class Agent:
    """The agent service of one machine: register, beat, take slots, supervise.

    Args:
        project: the project (its database is the fleet's).
        options: its name, robots and workers.
        notifiers: where an offline agent is told.
        clock: the current time (UTC).
    """

    project: Project
    options: AgentOptions
    notifiers: Sequence[Notifier] = ()
    clock: Callable[[], datetime] = utc_now
    #: Set to drain (the first SIGTERM).
    stop: threading.Event = field(default_factory=threading.Event)
    #: Set (after ``stop``) to stop the workers at once.
    stop_now: threading.Event = field(default_factory=threading.Event)
    workers: dict[str, _Worker] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.engine = database_engine(self.project.settings.database)
        self.agents = AgentStore(self.engine, clock=self.clock)
        self.dispatches = DispatchStore(self.engine, clock=self.clock)
        self.gone = GoneAgents(self.agents, self.notifiers)
        self.waker = Waker(self.engine, self.stop)
        self._known = self._robots_here()
        self._last_beat = 0.0

    @property
    def name(self) -> str:
        return self.options.name

    def serve(self) -> None:
        """Register, then work until drained (``stop``), then leave offline."""
        self.project.backend  # noqa: B018 - upgrades the schema before the first use
        self._register()
        self._last_beat = time.monotonic()
        log.info(
            "agent_started",
            agent=self.name,
            robots=list(self.options.robots),
            workers=self.options.workers,
            listening=self.waker.listening,
        )
        self._bury_leftovers()
        try:
            while True:
                try:
                    if self._look():
                        break
                except QueueError as exc:  # the database is away: look again later
                    log.error("database_unavailable", error=str(exc).splitlines()[0])
                    self.stop.wait(self.options.heartbeat_s)
                    continue
                self.waker.wait(self._wait_s())
        finally:
            self.waker.close()
            try:
                self.agents.beat(self.name, running=0, state=AgentState.OFFLINE)
            except QueueError:
                pass  # it shows offline once its beats are missed
            log.info("agent_stopped", agent=self.name)
            self.engine.dispose()

    # Work ----------------------------------------------------------------------------

    def _look(self) -> bool:
        """One look at the workers and the work; True when drained."""
        self._tend()
        if self.stop.is_set():
            self._drain()
            if not self.workers:
                return True
        else:
            self._pass_stops()
            self._take()
        self._beat_if_due()
        return False

    def _take(self) -> None:
        """Take the slots this agent has room for, and start their workers."""
        room = self.options.workers - len(self.workers)
        if room <= 0:
            return
        robots = None if ANY_ROBOT in self.options.robots else self.options.robots
        for dispatch in self.dispatches.wanting(robots):
            if dispatch.robot not in self._known:
                continue  # not a robot of this machine's project
            share = self._share(dispatch)
            while room > 0 and share > 0:
                slot = self.dispatches.take(dispatch, self.name)
                if slot is None:
                    break
                self._start(dispatch, slot)
                room -= 1
                share -= 1

    def _share(self, dispatch: Dispatch) -> int:
        """How many more slots of ``dispatch`` this agent takes now."""
        if (self.clock() - dispatch.created_at).total_seconds() >= SHARE_S:
            return dispatch.wanted
        live = max(1, len(self.agents.live_for(dispatch.robot)))
        mine = sum(
            1 for w in self.workers.values() if w.slot.dispatch_id == dispatch.id
        )
        return math.ceil(dispatch.wanted / live) - mine

    def _start(self, dispatch: Dispatch, slot: Slot) -> None:
        run_dir = self.project.settings.logs / dispatch.robot / dispatch.run_id
        child = start_worker(self.project, dispatch.robot, slot.worker_run_id, run_dir)
        self.workers[slot.worker_run_id] = _Worker(slot, dispatch.robot, child)
        log.info(
            "slot_taken",
            agent=self.name,
            robot=dispatch.robot,
            run_id=dispatch.run_id,
            worker_run=slot.worker_run_id,
            pid=child.pid,
        )
        self._beat()

    def _tend(self) -> None:
        """Deal with workers that ended: record how, and bury the dead."""
        for run_id, worker in list(self.workers.items()):
            code = worker.child.poll()
            if code is None:
                continue
            run = self._run(run_id)
            if run is not None and run.finished_at is not None:
                # it ended its run (a late signal may have cut its exit short)
                stopped = run.status is RunStatus.STOPPED
                how = SlotEnd.DRAINED if worker.drained and stopped else SlotEnd.RAN
            else:
                bury_worker(self.project, worker.robot, run_id, worker.child, code)
                how = SlotEnd.DIED
            self.dispatches.end(worker.slot, how)
            del self.workers[run_id]  # once recorded: a database error retries it
            log.info("worker_ended", agent=self.name, worker_run=run_id, how=how)
            self._beat()

    def _pass_stops(self) -> None:
        """Pass on a coordinating run's stop (asked, or it has ended)."""
        wanted: dict[int, int] = {}  # by dispatch: its workers share the answer
        for worker in self.workers.values():
            own = self._run(worker.slot.worker_run_id)
            if own is not None and own.finished_at is not None:
                continue  # it ended its run and is exiting
            dispatch_id = worker.slot.dispatch_id
            if dispatch_id not in wanted:
                wanted[dispatch_id] = self._stop_wanted(worker.slot)
            self._tell(worker, wanted[dispatch_id])

    def _stop_wanted(self, slot: Slot) -> int:
        """0, or how a slot's coordinating run wants its workers stopped (1: after
        their item, as when the run has ended; 2: at once)."""
        dispatch = self.dispatches.dispatch_of(slot)
        if dispatch.stop:
            return dispatch.stop
        coordinator = self._run(dispatch.run_id)
        return 1 if coordinator is None or coordinator.finished_at is not None else 0

    def _drain(self) -> None:
        wanted = 2 if self.stop_now.is_set() else 1
        for worker in self.workers.values():
            worker.drained = True
            self._tell(worker, wanted)

    def _tell(self, worker: _Worker, wanted: int) -> None:
        while worker.told < wanted and worker.child.poll() is None:
            worker.told += 1
            ask_to_stop(worker.child)
            log.warning(
                "worker_stopping",
                agent=self.name,
                worker_run=worker.slot.worker_run_id,
                at_once=worker.told == 2,
            )

    def _bury_leftovers(self) -> None:
        """Slots an earlier life of this agent left: bury workers that are dead."""
        host = socket.gethostname()
        for slot in self.dispatches.running_slots(self.name):
            run = self._run(slot.worker_run_id)
            if run is not None and run.finished_at is not None:
                self.dispatches.end(slot, SlotEnd.RAN)
                continue
            if run is not None and run.host == host and _alive(run.pid):
                continue  # an orphan finishing its item; it ends its run itself
            backend = self.project.backend
            note = f"worker {slot.worker_run_id}: its agent {self.name} restarted"
            backend.recover_run(slot.worker_run_id, note=note)
            if run is not None:
                backend.finish_run(
                    run.id, status=RunStatus.CRASHED, counts={}, note=note
                )
            self.dispatches.end(slot, SlotEnd.DIED)
            log.warning("worker_buried", agent=self.name, worker_run=slot.worker_run_id)

    # Beats ---------------------------------------------------------------------------

    def _beat_if_due(self) -> None:
        if time.monotonic() - self._last_beat >= self.options.heartbeat_s:
            self._beat()
            self.gone.check()

    def _beat(self) -> None:
        state = AgentState.DRAINING if self.stop.is_set() else AgentState.ONLINE
        self._last_beat = time.monotonic()
        if not self.agents.beat(self.name, running=len(self.workers), state=state):
            log.warning("agent_reregistered", agent=self.name)
            self._register()

    def _register(self) -> None:
        self.agents.register(
            self.name,
            host=socket.gethostname(),
            robots=self.options.robots,
            workers=self.options.workers,
            pid=os.getpid(),
            version=_version(),
            heartbeat_s=self.options.heartbeat_s,
        )

    def _wait_s(self) -> float:
        if self.workers or self.stop.is_set():
            return TEND_S
        until_beat = self.options.heartbeat_s - (time.monotonic() - self._last_beat)
        wait = max(0.1, until_beat)
        return wait if self.waker.listening else min(wait, self.options.poll_s)

    # Helpers -------------------------------------------------------------------------

    def _robots_here(self) -> set[str]:
        robots, _problems = self.project.robots()
        if ANY_ROBOT in self.options.robots:
            return set(robots)
        missing = sorted(set(self.options.robots) - set(robots))
        if missing:
            raise ConfigurationError(
                f"--robots names robots not in {self.project.settings.robots_dir}: "
                f"{', '.join(missing)} (robots there: "
                f"{', '.join(sorted(robots)) or 'none'})"
            )
        return set(self.options.robots)

    def _run(self, run_id: str) -> Run | None:
        try:
            return self.project.backend.get_run(run_id)
        except KeyError:
            return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _version() -> str:
    from robotlib import __version__

    return __version__
