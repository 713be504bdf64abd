"""The ``agents`` table: which robot machines are there, alive, and how busy.

Each ``rpa agent`` keeps one row, by its name: the host, the robots it may run,
how many workers it runs at most and runs now, and when it last beat. An agent
beats every ``heartbeat_s`` seconds; one whose last beat is more than
:data:`MISSED_BEATS` intervals old is gone (a dead process, a machine that
stopped, a network that parted it from the database). Whoever notices first
(another agent, a coordinating run, the scheduler) marks it ``offline`` with
:meth:`AgentStore.mark_gone`, which changes each row once, so exactly one of
them tells the notifiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, delete, insert, select, update

from robotlib.db.schema import agents
from robotlib.fleet._tables import FleetStore

__all__ = ["ANY_ROBOT", "MISSED_BEATS", "AgentRecord", "AgentState", "AgentStore"]

_a = agents

#: An agent that may run every robot of the project.
ANY_ROBOT = "*"
#: Beats an agent may miss before it counts as gone.
MISSED_BEATS = 3


class AgentState:
    """What an agent is doing, as its row says."""

    ONLINE = "online"
    DRAINING = "draining"
    OFFLINE = "offline"


@dataclass(frozen=True)
class AgentRecord:
    """One agent as the database knows it."""

    name: str
    host: str
    robots: tuple[str, ...]
    workers: int
    running: int
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_s: int
    state: str

    def runs(self, robot: str) -> bool:
        """Whether this agent may run ``robot``."""
        return ANY_ROBOT in self.robots or robot in self.robots

    def alive(self, now: datetime) -> bool:
        """Whether its last beat is recent enough (``MISSED_BEATS`` intervals)."""
        return now - self.heartbeat_at <= timedelta(
            seconds=self.heartbeat_s * MISSED_BEATS
        )

    def live(self, now: datetime) -> bool:
        """Online (not draining, not gone): it may take work."""
        return self.state == AgentState.ONLINE and self.alive(now)


class AgentStore(FleetStore):
    """Reads and writes the ``agents`` table.

    Args:
        engine: the project database (its schema upgraded).
        clock: the current time (UTC).
    """

    def register(
        self,
        name: str,
        *,
        host: str,
        robots: Sequence[str],
        workers: int,
        pid: int,
        version: str,
        heartbeat_s: int,
    ) -> AgentRecord:
        """Record agent ``name`` as online now (replacing an earlier row of it)."""
        now = self.clock()
        values = {
            "name": name,
            "host": host,
            "robots": list(robots),
            "workers": workers,
            "running": 0,
            "pid": pid,
            "version": version,
            "started_at": now,
            "heartbeat_at": now,
            "heartbeat_s": heartbeat_s,
            "state": AgentState.ONLINE,
        }
        with self._write() as conn:
            conn.execute(delete(_a).where(_a.c.name == name))
            conn.execute(insert(_a).values(values))
        return self.get(name)

    def beat(self, name: str, *, running: int, state: str) -> bool:
        """Record a heartbeat; False when the row is gone (deleted by an admin)."""
        with self._write() as conn:
            done = conn.execute(
                update(_a)
                .where(_a.c.name == name)
                .values(heartbeat_at=self.clock(), running=running, state=state)
            )
        return done.rowcount > 0

    def get(self, name: str) -> AgentRecord:
        """The agent named ``name`` (KeyError when there is none)."""
        with self._read() as conn:
            row = conn.execute(select(_a).where(_a.c.name == name)).first()
        if row is None:
            raise KeyError(name)
        return _record(row)

    def all(self) -> list[AgentRecord]:
        """Every agent, by name."""
        with self._read() as conn:
            rows = conn.execute(select(_a).order_by(_a.c.name)).all()
        return [_record(row) for row in rows]

    def live_for(self, robot: str) -> list[AgentRecord]:
        """The agents that are online and may run ``robot``."""
        now = self.clock()
        return [a for a in self.all() if a.runs(robot) and a.live(now)]

    def mark_gone(self, agents: list[AgentRecord] | None = None) -> list[AgentRecord]:
        """Mark every agent whose beats stopped ``offline``; return those changed.

        Each row changes once, by a conditional update: of several processes that
        notice the same agent at the same time only one gets it back.

        Args:
            agents: the rows as just read (default: read them now).
        """
        now = self.clock()
        gone: list[AgentRecord] = []
        for agent in self.all() if agents is None else agents:
            if agent.state == AgentState.OFFLINE or agent.alive(now):
                continue
            with self._write() as conn:
                done = conn.execute(
                    update(_a)
                    .where(
                        _a.c.name == agent.name,
                        _a.c.heartbeat_at == agent.heartbeat_at,
                        _a.c.state != AgentState.OFFLINE,
                    )
                    .values(state=AgentState.OFFLINE, running=0)
                )
            if done.rowcount:
                gone.append(agent)
        return gone

    def forget(self, name: str) -> bool:
        """Delete agent ``name``'s row (a machine taken out of the fleet)."""
        with self._write() as conn:
            done = conn.execute(delete(_a).where(_a.c.name == name))
        return done.rowcount > 0


def _record(row: Row[tuple[object, ...]]) -> AgentRecord:
    m = row._mapping
    return AgentRecord(
        name=m["name"],
        host=m["host"],
        robots=tuple(m["robots"] or ()),
        workers=m["workers"],
        running=m["running"],
        pid=m["pid"],
        version=m["version"],
        started_at=m["started_at"],
        heartbeat_at=m["heartbeat_at"],
        heartbeat_s=m["heartbeat_s"],
        state=m["state"],
    )
