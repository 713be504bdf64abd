"""The coordinating run's side of dispatch: workers on the fleet's agents.

``rpa run ROBOT --workers N --fleet`` (what the scheduler starts when agents are
live) loads the input, then hands the work to :class:`RemoteCrew`, which offers N
worker slots (:mod:`._dispatches`) and watches the slots the agents take, as
:mod:`robotlib.workers` watches its own children:

- no agent takes a slot within ``take_wait_s`` (none live, all full): the slots
  are withdrawn and the coordinator starts its workers itself, as without a fleet;
- a worker that died (its agent buried it, its item is back in the queue) or
  stopped because its agent drained is replaced by a new slot, up to
  ``max_restarts`` times; a slot no live agent can take runs here;
- a worker whose agent went offline while it ran is *lost*: its run is recorded
  crashed, but its items are not taken back (the worker may still be running, on a
  machine cut off from us): they come back when their leases expire, and the run
  waits for that and has them processed by a replacement;
- a stop (Ctrl+C, the scheduler's time limit) is written to the dispatch, and the
  agents pass it on to their workers.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from robotlib.engine import dead_run_counts
from robotlib.fleet._agents import AgentRecord, AgentStore
from robotlib.fleet._dispatches import Dispatch, DispatchStore, Slot, SlotEnd
from robotlib.fleet._gone import GoneAgents
from robotlib.notify import Notifier
from robotlib.project import Project
from robotlib.queue.models import ItemState, Run, RunStatus
from robotlib.workers import LocalWorkers

__all__ = ["TAKE_WAIT_S", "RemoteCrew"]

log = structlog.get_logger("robotlib.fleet")

#: How long offered slots wait for an agent before the coordinator runs them.
TAKE_WAIT_S = 30.0


@dataclass
class RemoteCrew:
    """A coordinating run's workers on the agents.

    Args:
        project: the project.
        robot: the robot's name.
        run_id: the coordinating run's id.
        local: starts a worker on this machine (the fallback).
        max_restarts: how many workers are replaced at most.
        notifiers: where an agent found offline is told.
        take_wait_s: how long slots wait for an agent.
    """

    project: Project
    robot: str
    run_id: str
    local: LocalWorkers
    max_restarts: int
    notifiers: tuple[Notifier, ...] = ()
    take_wait_s: float = TAKE_WAIT_S
    deaths: list[str] = field(default_factory=list)
    restarts: int = 0
    #: Worker runs whose end was dealt with, and those replaced.
    tended: set[str] = field(default_factory=set)
    replaced: set[str] = field(default_factory=set)
    #: Worker runs lost with their agent: their leases must expire.
    lost: set[str] = field(default_factory=set)
    _slots: list[Slot] = field(default_factory=list)
    _pending: int = 0
    _pending_since: float = 0.0
    _taken_seen: int = 0
    _waiting: bool = False

    def __post_init__(self) -> None:
        from robotlib.db import database_engine

        backend = self.project.backend
        self.engine = database_engine(self.project.settings.database)
        self.agents = AgentStore(self.engine, clock=backend.clock)
        self.dispatches = DispatchStore(self.engine, clock=backend.clock)
        self.gone = GoneAgents(self.agents, self.notifiers)
        self.dispatch: Dispatch | None = None

    # The coordinator's calls ---------------------------------------------------------

    def start(self, workers: int, stop: threading.Event) -> int:
        """Offer ``workers`` slots when agents are live; return how many were taken
        within ``take_wait_s`` (0: none, the coordinator runs its own)."""
        self.gone.check()
        if not self.agents.live_for(self.robot):
            return 0
        self.dispatch = self.dispatches.open(self.robot, self.run_id, workers)
        log.info("dispatched", robot=self.robot, run_id=self.run_id, slots=workers)
        waited = time.monotonic() + self.take_wait_s
        while not stop.is_set() and time.monotonic() < waited:
            taken = self.dispatches.get(self.run_id).taken
            if taken >= workers:
                break
            if taken and time.monotonic() > waited - self.take_wait_s + 1.0:
                break  # the first are working; the rest join as agents can
            time.sleep(0.1)
        taken = self.dispatches.withdraw(self.dispatch) if stop.is_set() else 0
        taken = taken or self.dispatches.get(self.run_id).taken
        if not taken:
            self.dispatches.close(self.dispatch)
            self.dispatch = None
            log.warning(
                "dispatch_untaken",
                robot=self.robot,
                run_id=self.run_id,
                waited_s=self.take_wait_s,
            )
        self._taken_seen = taken
        return taken

    @property
    def ids(self) -> list[str]:
        """Every worker run of the agents, in order."""
        return [slot.worker_run_id for slot in self._slots]

    @property
    def last_ids(self) -> list[str]:
        """The worker runs not replaced by another."""
        return [id_ for id_ in self.ids if id_ not in self.replaced]

    def active(self) -> int:
        """Workers running or wanted on the agents (0: this crew is done)."""
        running = sum(1 for id_ in self.ids if id_ not in self.tended)
        return running + self._pending + (1 if self._waiting else 0)

    def tell_stop(self, level: int) -> None:
        """Ask the agents to stop the workers: 1 after their item, 2 at once."""
        if self.dispatch is not None:
            self.dispatches.ask_to_stop(self.dispatch, level)

    def tend(self, *, stopping: bool) -> None:
        """Deal with slots whose worker ended or was lost; replace them."""
        if self.dispatch is None:
            return
        records = self.agents.all()
        self.gone.check(records)
        now = self.project.backend.clock()
        agents = {agent.name: agent for agent in records}
        dispatch = self.dispatches.get(self.run_id)
        self._slots = self.dispatches.slots(dispatch)
        for slot in self._slots:
            if slot.worker_run_id not in self.tended:
                self._tend_slot(slot, agents.get(slot.agent), now, stopping)
        self._pending = max(0, self._pending - (dispatch.taken - self._taken_seen))
        self._taken_seen = dispatch.taken
        if stopping:
            self._pending, self._waiting = 0, False
            return
        self._run_untaken_here(dispatch, agents, now)
        self._wait_for_leases()

    def close(self) -> None:
        """Close the dispatch: no agent takes a slot of it any more."""
        if self.dispatch is not None:
            self.dispatches.close(self.dispatch)
        self.engine.dispose()

    def death_note(self) -> str:
        replaced = f"{self.restarts} replaced" if self.restarts else "none replaced"
        return f"agents' workers ended early: {', '.join(self.deaths)} ({replaced})"

    # Slots ---------------------------------------------------------------------------

    def _tend_slot(
        self, slot: Slot, agent: AgentRecord | None, now: datetime, stopping: bool
    ) -> None:
        run_id = slot.worker_run_id
        run = self._run(run_id)
        alive = agent is not None and agent.alive(now)
        if run is not None and run.finished_at is not None:
            if run.status is RunStatus.STOPPED and slot.ended is None and alive:
                return  # its agent records within a moment whether it drained
            self.tended.add(run_id)
            why = _why_replace(run, slot, alive)
            if why is not None:
                self._replace(run_id, f"{run_id} {why}", stopping)
        elif run is None and slot.ended is not None:
            self.tended.add(run_id)  # died before it recorded its run
            self._replace(run_id, f"{run_id} did not start", stopping)
        elif not alive:
            self.tended.add(run_id)
            self.lost.add(run_id)
            self.dispatches.end(slot, SlotEnd.LOST)
            note = f"lost: its agent {slot.agent} went offline"
            if run is not None:
                self.project.backend.finish_run(
                    run_id,
                    status=RunStatus.CRASHED,
                    counts=dead_run_counts(self.project.backend, self.robot, run_id),
                    note=note,
                )
            log.error("worker_lost", run=run_id, agent=slot.agent)
            self._replace(run_id, f"{run_id} {note}", stopping)

    def _replace(self, run_id: str, note: str, stopping: bool) -> None:
        self.deaths.append(note)
        if stopping or self.restarts >= self.max_restarts:
            log.error("worker_not_replaced", run=run_id, restarts=self.restarts)
            return
        self.restarts += 1
        self.replaced.add(run_id)
        self._start_one()
        log.warning("worker_replaced", run=run_id)

    def _start_one(self) -> None:
        """One more worker: a slot for a live agent, else here."""
        if self.dispatch is not None and self.agents.live_for(self.robot):
            self.dispatches.offer(self.dispatch, 1)
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending += 1
        else:
            self.local.start()

    def _run_untaken_here(
        self, dispatch: Dispatch, agents: dict[str, AgentRecord], now: datetime
    ) -> None:
        """Replacement slots run here when no live agent may take them, or when
        no agent took them within ``take_wait_s`` after the others ended."""
        if not self._pending:
            return
        live = [a for a in agents.values() if a.runs(self.robot) and a.live(now)]
        running = any(id_ not in self.tended for id_ in self.ids)
        waited = time.monotonic() - self._pending_since > self.take_wait_s
        if live and (running or not waited):
            return  # a live agent takes it when it has room
        self.dispatches.withdraw(dispatch)
        for _ in range(self._pending):
            self.local.start()
        log.warning("replacements_run_here", robot=self.robot, workers=self._pending)
        self._pending = 0

    def _wait_for_leases(self) -> None:
        """When workers were lost and all others ended: wait for the lost workers'
        leases to expire, then have their items processed."""
        self._waiting = False
        if not self.lost or any(id_ not in self.tended for id_ in self.ids):
            return
        if self._pending:
            return
        backend = self.project.backend
        recovered = backend.recover_expired(self.robot)
        if recovered:
            log.warning("leases_recovered", items=[item.id for item in recovered])
        counts = backend.counts(self.robot)
        if counts[ItemState.IN_PROGRESS]:
            self._waiting = True
        elif counts[ItemState.NEW] and self.restarts < self.max_restarts:
            self.restarts += 1
            self._start_one()
            self.lost.clear()  # what was held is claimable now

    def _run(self, run_id: str) -> Run | None:
        try:
            return self.project.backend.get_run(run_id)
        except KeyError:
            return None


def _why_replace(run: Run, slot: Slot, agent_alive: bool) -> str | None:
    """Why a finished worker run should be replaced, or None (it ran to its end,
    or stopped for a reason of its own: system exceptions, its time limit)."""
    if run.status is RunStatus.CRASHED:
        return f"crashed: {run.note}".rstrip(": ")
    if run.status is RunStatus.STOPPED and slot.ended == SlotEnd.DRAINED:
        return "stopped: its agent drained"
    if run.status is RunStatus.STOPPED and slot.ended is None and not agent_alive:
        return "stopped: its agent went offline"
    return None
