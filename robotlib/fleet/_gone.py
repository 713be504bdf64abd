"""Telling people that an agent stopped beating.

:class:`GoneAgents` marks the agents whose heartbeats stopped ``offline``
(:meth:`~._agents.AgentStore.mark_gone`, which hands each one to one caller only)
and sends one ``agent_offline`` notification for each. The agents, each
coordinating run and the active scheduler look, so an agent's end is told while
any of them lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from robotlib.fleet._agents import MISSED_BEATS, AgentRecord, AgentStore
from robotlib.notify import Notification, Notifier, send_all
from robotlib.settings import DISPLAY_TZ

__all__ = ["GoneAgents"]

log = structlog.get_logger("robotlib.fleet")


class GoneAgents:
    """Marks agents that stopped beating offline, and tells the notifiers.

    Args:
        agents: the agents table.
        notifiers: where ``agent_offline`` notifications go.
    """

    def __init__(self, agents: AgentStore, notifiers: Sequence[Notifier]) -> None:
        self.agents = agents
        self.notifiers = notifiers

    def check(self, agents: list[AgentRecord] | None = None) -> list[AgentRecord]:
        """Mark the gone agents offline and notify; return them (``agents``: the
        rows as just read; default: read them now)."""
        gone = self.agents.mark_gone(agents)
        for agent in gone:
            log.error(
                "agent_offline",
                agent=agent.name,
                host=agent.host,
                last_heartbeat=agent.heartbeat_at.isoformat(),
                running=agent.running,
            )
            send_all(self.notifiers, _notification(agent))
        return gone


def _notification(agent: AgentRecord) -> Notification:
    return Notification(
        kind="agent_offline",
        subject=f"robotlib: agent {agent.name} on {agent.host} is offline",
        body=(
            f"Agent {agent.name} (host {agent.host}, pid {agent.pid}) has not sent "
            f"a heartbeat since {_local(agent.heartbeat_at)} ({MISSED_BEATS} beats of "
            f"{agent.heartbeat_s} s missed). It was running {agent.running} "
            "workers; the items they held go back to the queue when their leases "
            "expire, and the other agents take over the run's slots. Check the "
            "machine and its `rpa agent` service; `rpa agents` lists the fleet."
        ),
    )


def _local(moment: datetime) -> str:
    """The hospital's wall-clock time with its zone (CET or CEST)."""
    return moment.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M:%S %Z")
