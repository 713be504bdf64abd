"""The fleet: agents on the robot machines, and the firings they share.

- :mod:`._agents`: the ``agents`` table (registration, heartbeats, offline).
- :mod:`._dispatches`: a coordinating run's worker slots, taken by agents.
- :mod:`._wake`: waiting for work (PostgreSQL LISTEN/NOTIFY, or a poll).
- :mod:`._gone`: telling people that an agent stopped beating.
- :mod:`.agent`: ``rpa agent``, the service on each robot machine.
- :mod:`._remote`: the coordinating run's side (``rpa run --workers N --fleet``).

See docs/fleet.md for how a fleet is set up and what to watch.
"""

from robotlib.fleet._agents import (
    ANY_ROBOT,
    MISSED_BEATS,
    AgentRecord,
    AgentState,
    AgentStore,
)
from robotlib.fleet._dispatches import Dispatch, DispatchStore, Slot, SlotEnd
from robotlib.fleet._gone import GoneAgents
from robotlib.fleet._remote import TAKE_WAIT_S, RemoteCrew
from robotlib.fleet.agent import Agent, AgentOptions

__all__ = [
    "ANY_ROBOT",
    "MISSED_BEATS",
    "TAKE_WAIT_S",
    "Agent",
    "AgentOptions",
    "AgentRecord",
    "AgentState",
    "AgentStore",
    "Dispatch",
    "DispatchStore",
    "GoneAgents",
    "RemoteCrew",
    "Slot",
    "SlotEnd",
]
