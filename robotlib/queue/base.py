"""The work-queue interface every backend implements.

A backend stores items, runs and the audit trail of one project. The engine calls
methods named for what they do; only a backend module knows how they are stored.

Rules every backend keeps (the contract suite in ``tests/queue`` checks them):

- ``enqueue`` is idempotent by ``(robot, reference)``: a known reference is skipped,
  whatever its state, and counted in ``existing``.
- ``claim_next`` is atomic: two workers never hold the same item. It takes the ``new``
  item of the robot with the highest priority, then the earliest deadline (none last),
  then the lowest id, whose ``not_before`` has passed; it sets ``in_progress``, counts
  an attempt and a claim, stamps ``started_at`` (first claim only), records the run
  and leases it to ``owner``.
- ``attempts`` counts claims since the item was enqueued or an operator retried it
  (the retry policy's budget); ``claims`` counts every claim ever, so ``claims > 1``
  means the item may have been worked on before (the engine then runs the precheck).
- Worker operations (``extend_lease``, ``finish_stage``, ``complete``, ``fail``,
  ``business_exception``, ``release``) need the lease: an item leased to another
  owner, or not in progress, raises ``LeaseLostError``.
- ``fail`` with ``retry_at`` returns the item to ``new`` not before that time;
  without it the item ends ``failed``.
- Operator operations (``retry``, ``resolve``) take ``business_exception`` and
  ``failed`` items only (else ``InvalidTransitionError``), write an audit entry
  each, and need a note to resolve (a blank one raises ``ValueError``). A batch is
  all or nothing: one missing or unfit item and none changes.
- ``correct`` gives a ``business_exception`` or ``failed`` item a new payload and
  sends it back to ``new`` like a retry, its error cleared (else
  ``InvalidTransitionError``); it needs a note and writes an audit entry.
- ``recover_expired`` returns ``in_progress`` items whose lease has expired to
  ``new`` (a crashed worker loses nothing); the attempt stays counted.
  ``recover_run`` does the same at once for the items a run holds, when its
  process is known to be dead (its supervisor saw it die).
- Every state change adds a ``HistoryEntry``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from robotlib.queue.models import (
    AuditEntry,
    EnqueueResult,
    HistoryEntry,
    ItemState,
    NewItem,
    Run,
    RunStatus,
    WorkItem,
)

__all__ = ["Clock", "QueueBackend", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class QueueBackend(abc.ABC):
    """Storage of work items, runs and audit entries.

    Args:
        clock: returns the current UTC time; tests pass a fake one.
    """

    def __init__(self, *, clock: Clock = utc_now) -> None:
        self.clock = clock

    # Items: loading --------------------------------------------------------------

    @abc.abstractmethod
    def enqueue(
        self, robot: str, items: Iterable[NewItem], *, run_id: str | None = None
    ) -> EnqueueResult:
        """Add items whose reference is new for the robot; skip the rest."""

    # Items: the worker's side ----------------------------------------------------

    @abc.abstractmethod
    def claim_next(
        self, robot: str, *, owner: str, lease: timedelta, run_id: str | None = None
    ) -> WorkItem | None:
        """Lease the next due ``new`` item of the robot to ``owner``, or return None."""

    @abc.abstractmethod
    def extend_lease(self, item_id: int, *, owner: str, lease: timedelta) -> WorkItem:
        """Renew the lease of an item ``owner`` is working on."""

    @abc.abstractmethod
    def finish_stage(
        self, item_id: int, *, owner: str, stage: str, output: dict[str, Any]
    ) -> WorkItem:
        """Record a finished stage and the output so far (merged into ``output``)."""

    @abc.abstractmethod
    def complete(
        self, item_id: int, *, owner: str, output: dict[str, Any], note: str = ""
    ) -> WorkItem:
        """End the item ``done`` with its output (merged into ``output``)."""

    @abc.abstractmethod
    def fail(
        self,
        item_id: int,
        *,
        owner: str,
        error_type: str,
        message: str,
        retry_at: datetime | None,
        artifacts: Sequence[str] = (),
    ) -> WorkItem:
        """Record a system exception: ``new`` again at ``retry_at``, else ``failed``."""

    @abc.abstractmethod
    def business_exception(
        self,
        item_id: int,
        *,
        owner: str,
        error_type: str,
        message: str,
        artifacts: Sequence[str] = (),
    ) -> WorkItem:
        """End the item as a business exception, for a person to handle."""

    @abc.abstractmethod
    def release(self, item_id: int, *, owner: str, note: str) -> WorkItem:
        """Give an unprocessed item back (a clean stop): ``new``, attempt uncounted."""

    @abc.abstractmethod
    def recover_expired(self, robot: str | None = None) -> list[WorkItem]:
        """Return items whose lease expired to ``new``; return them."""

    @abc.abstractmethod
    def recover_run(self, run_id: str, *, note: str) -> list[WorkItem]:
        """Return the ``in_progress`` items claimed by ``run_id`` to ``new``.

        Only for a run whose process is known to be dead: its leases have not
        expired, so a live owner would lose its item. The attempt stays counted;
        ``note`` (why) goes into each item's history.
        """

    # Items: the operator's side --------------------------------------------------

    @abc.abstractmethod
    def retry(
        self, item_ids: Sequence[int], *, actor: str, note: str
    ) -> list[WorkItem]:
        """Send exception items back to ``new`` with attempts reset to 0 (audited)."""

    @abc.abstractmethod
    def resolve(
        self, item_ids: Sequence[int], *, actor: str, note: str
    ) -> list[WorkItem]:
        """Close exception items as ``resolved`` with a required note (audited).

        Raises:
            ValueError: the note is blank.
        """

    @abc.abstractmethod
    def correct(
        self,
        item_id: int,
        *,
        payload: dict[str, Any],
        actor: str,
        note: str,
        run_id: str | None = None,
    ) -> WorkItem:
        """Replace an exception item's payload and send it back to ``new`` (audited).

        The attempts are reset and the error cleared, as by :meth:`retry`; the
        note (what changed, from what) goes into the history and the audit entry,
        and ``run_id`` (the loading run) into the history.

        Raises:
            ValueError: the note is blank, or the payload is not JSON data.
        """

    # Items: reading --------------------------------------------------------------

    @abc.abstractmethod
    def get(self, item_id: int) -> WorkItem:
        """Return one item; raise ``ItemNotFoundError`` if there is none."""

    @abc.abstractmethod
    def items(
        self,
        robot: str | None = None,
        *,
        states: Iterable[ItemState] | None = None,
        reference: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
    ) -> list[WorkItem]:
        """Return items, oldest first, filtered by robot, states, reference and run."""

    @abc.abstractmethod
    def counts(self, robot: str, *, run_id: str | None = None) -> dict[ItemState, int]:
        """Count the robot's items by state (every state present, zeros included)."""

    @abc.abstractmethod
    def history(self, item_id: int) -> list[HistoryEntry]:
        """Return the item's state changes, oldest first."""

    # Runs ------------------------------------------------------------------------

    @abc.abstractmethod
    def start_run(self, run_id: str, robot: str, *, host: str, pid: int) -> Run:
        """Record a run that starts now."""

    @abc.abstractmethod
    def finish_run(
        self, run_id: str, *, status: RunStatus, counts: dict[str, int], note: str = ""
    ) -> Run:
        """Record how a run ended."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Return one run; raise ``KeyError`` if there is none."""

    @abc.abstractmethod
    def runs(self, robot: str | None = None, *, limit: int | None = None) -> list[Run]:
        """Return runs, newest first."""

    # Audit and retention ---------------------------------------------------------

    @abc.abstractmethod
    def record_audit(
        self, *, actor: str, action: str, note: str, item_id: int | None = None
    ) -> AuditEntry:
        """Write one audit entry now: an action that changes no item by itself
        (a console login, a schedule paused, a user added)."""

    @abc.abstractmethod
    def audit_log(
        self,
        *,
        item_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Return audit entries, newest first, filtered by item, actor, action and
        time (``since``: entries at or after it; timezone-aware)."""

    @abc.abstractmethod
    def purge(self, *, finished_before: datetime) -> int:
        """Delete runs and finished items older than the cut-off; return items gone."""

    def close(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release connections; the default holds none."""
