"""The records of the work queue: items, their history, runs and the audit trail.

All times are timezone-aware UTC datetimes. Records are frozen; the backend returns a
new record after each change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robotlib.versions import CodeVersion


__all__ = [
    "EXCEPTION_STATES",
    "FINISHED_STATES",
    "REJECTED_ERROR_TYPE",
    "AuditEntry",
    "EnqueueResult",
    "HistoryEntry",
    "ItemState",
    "NewItem",
    "Outcome",
    "Run",
    "RunStatus",
    "WorkItem",
]


class ItemState(StrEnum):
    """Where a work item is in its life.

    ``new`` → ``in_progress`` → ``done`` | ``business_exception`` | ``failed``; a failed
    attempt with retries left goes back to ``new``; an operator moves
    ``business_exception`` or ``failed`` back to ``new`` (retry) or to ``resolved``.
    """

    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BUSINESS_EXCEPTION = "business_exception"
    FAILED = "failed"
    RESOLVED = "resolved"


#: States an item ends in until an operator acts.
FINISHED_STATES = frozenset(
    {ItemState.DONE, ItemState.BUSINESS_EXCEPTION, ItemState.FAILED, ItemState.RESOLVED}
)

#: The states an operator may retry or resolve, and a later input row correct.
EXCEPTION_STATES = frozenset({ItemState.BUSINESS_EXCEPTION, ItemState.FAILED})

#: The error type of an item enqueued as rejected (``NewItem.rejected``).
REJECTED_ERROR_TYPE = "InvalidInput"


class RunStatus(StrEnum):
    """How a run stands or ended."""

    RUNNING = "running"
    COMPLETED = "completed"
    #: Ran to its end, but with more failed items than the notify threshold.
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    STOPPED = "stopped"
    CRASHED = "crashed"


class Outcome(StrEnum):
    """How one claimed item (or one setup) ended in a run: the keys of ``Run.counts``.

    Three are the item's end state (``done``, ``business_exception``, ``failed``);
    ``retried`` is a system exception with retries left (the item is ``new`` again),
    ``lease_lost`` an item another worker took over (its new owner records it),
    ``setup_failed`` a setup that raised before any item was claimed.
    """

    DONE = "done"
    BUSINESS_EXCEPTION = "business_exception"
    FAILED = "failed"
    RETRIED = "retried"
    LEASE_LOST = "lease_lost"
    SETUP_FAILED = "setup_failed"


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item to enqueue: its unique reference within the robot, and its data."""

    reference: str
    payload: dict[str, Any]
    priority: int = 0
    not_before: datetime | None = None
    deadline: datetime | None = None
    #: Enqueue straight into ``business_exception`` with this message (an input row
    #: that failed validation: accounted for, waiting for a person).
    rejected: str | None = None


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    """What an enqueue did: how many items were new and how many existed already.

    ``corrected`` counts known exception items a later row gave other values
    (the engine's load counts them; a backend's ``enqueue`` leaves it 0).
    """

    added: int
    existing: int
    corrected: int = 0


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One transaction: one input row, one registration."""

    id: int
    robot: str
    reference: str
    payload: dict[str, Any]
    state: ItemState
    priority: int
    not_before: datetime | None
    deadline: datetime | None
    attempts: int
    claims: int
    finished_stages: tuple[str, ...]
    lease_owner: str | None
    lease_expires: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    output: dict[str, Any]
    error_type: str | None
    error_message: str | None
    artifacts: tuple[str, ...]
    run_id: str | None
    #: The item whose completion created this one (a robot's hand-off), if any.
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class Handoff:
    """An item for another robot, created when the item handing it off is done."""

    robot: str
    item: NewItem


#: The output key under which a stage's hand-offs (``ctx.enqueue``) are kept until
#: the item is done; completing the item creates them and drops the key.
PENDING_HANDOFFS = "_pending_handoffs"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One state change of an item."""

    item_id: int
    at: datetime
    from_state: ItemState | None
    to_state: ItemState
    run_id: str | None
    note: str


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of a robot."""

    id: str
    robot: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    counts: dict[str, int] = field(default_factory=dict)
    host: str = ""
    pid: int = 0
    note: str = ""
    #: The code it ran (see :mod:`robotlib.versions`); "" where not recorded.
    robotlib_version: str = ""
    robot_sha256: str = ""
    git_commit: str = ""

    @property
    def code(self) -> CodeVersion:
        """The code it ran, as one value."""
        from robotlib.versions import CodeVersion

        return CodeVersion(self.robotlib_version, self.robot_sha256, self.git_commit)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An operator's action: who did what to which item, when, and why."""

    id: int
    at: datetime
    actor: str
    action: str
    item_id: int | None
    note: str
