"""The life of a work item as pure functions, shared by every backend.

Each function checks that a change is allowed and returns the item after it; a
:class:`Change` also carries the note and run id its ``HistoryEntry`` records. The
backends only load, store and lock: what a claim or a failure *does* is decided here
once, so every backend behaves the same.

The run id of a history entry is the run in which the change happened: the loading
run for ``enqueue``, the claiming run for the worker's operations, and none for
``recover_expired`` and the operator's ``retry`` and ``resolve``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, overload

from robotlib.errors import InvalidTransitionError, LeaseLostError
from robotlib.queue.models import (
    EXCEPTION_STATES,
    PENDING_HANDOFFS,
    REJECTED_ERROR_TYPE,
    HistoryEntry,
    ItemState,
    NewItem,
    WorkItem,
)

__all__ = [
    "EXCEPTION_STATES",
    "REJECTED_ERROR_TYPE",
    "Change",
    "aware",
    "business_excepted",
    "claimed",
    "completed",
    "corrected",
    "enqueued",
    "failed",
    "jsonable",
    "lease_extended",
    "recovered",
    "released",
    "require_note",
    "resolved",
    "retried",
    "stage_finished",
]


@dataclass(frozen=True, slots=True)
class Change:
    """A state change: the item before and after, and what its history records."""

    before: WorkItem
    after: WorkItem
    note: str
    run_id: str | None
    #: The item was created: its history entry has no ``from_state``.
    created: bool = False

    def history(self, at: datetime) -> HistoryEntry:
        """Return the history entry of this change, made at ``at``."""
        return HistoryEntry(
            item_id=self.after.id,
            at=at,
            from_state=None if self.created else self.before.state,
            to_state=self.after.state,
            run_id=self.run_id,
            note=self.note,
        )


@overload
def aware(value: datetime, name: str) -> datetime: ...
@overload
def aware(value: None, name: str) -> None: ...
@overload
def aware(value: datetime | None, name: str) -> datetime | None: ...
def aware(value: datetime | None, name: str) -> datetime | None:
    """Return ``value`` in UTC; refuse a naive datetime.

    Raises:
        ValueError: ``value`` has no time zone.
    """
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def jsonable(value: dict[str, Any], name: str) -> dict[str, Any]:
    """Return a copy of ``value`` as it comes back from a JSON column.

    Every backend stores payloads and outputs as a JSON column would: tuples come
    back as lists, keys as strings. The copy also cuts the caller's references.

    Raises:
        ValueError: ``value`` cannot be stored as JSON (a date, a set, NaN, ...).
    """
    try:
        copied: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {name} must be JSON data: {exc}") from None
    return copied


def require_note(note: str, action: str) -> str:
    """Return the stripped note; refuse a blank one.

    Raises:
        ValueError: the note is empty or only whitespace.
    """
    if not note.strip():
        raise ValueError(f"a note is required to {action} an item")
    return note.strip()


def enqueued(
    robot: str,
    new: NewItem,
    *,
    now: datetime,
    run_id: str | None,
    item_id: int = 0,
    parent_id: int | None = None,
) -> Change:
    """Return the creation of an item (``from_state`` None in its history)."""
    rejected = new.rejected is not None
    item = WorkItem(
        id=item_id,
        robot=robot,
        reference=new.reference,
        payload=jsonable(new.payload, "payload"),
        state=ItemState.BUSINESS_EXCEPTION if rejected else ItemState.NEW,
        priority=new.priority,
        not_before=aware(new.not_before, "not_before"),
        deadline=aware(new.deadline, "deadline"),
        attempts=0,
        claims=0,
        finished_stages=(),
        lease_owner=None,
        lease_expires=None,
        created_at=now,
        started_at=None,
        finished_at=now if rejected else None,
        output={},
        error_type=REJECTED_ERROR_TYPE if rejected else None,
        error_message=new.rejected,
        artifacts=(),
        run_id=run_id,
        parent_id=parent_id,
    )
    note = new.rejected or (
        "enqueued" if parent_id is None else f"from item {parent_id}"
    )
    return Change(item, item, note, run_id, created=True)


def claimed(
    item: WorkItem,
    *,
    owner: str,
    lease_expires: datetime,
    now: datetime,
    run_id: str | None,
) -> Change:
    """Lease a ``new`` item to ``owner``, counting an attempt and a claim."""
    if item.state != ItemState.NEW:
        raise InvalidTransitionError(item.id, item.state, "claim")
    after = replace(
        item,
        state=ItemState.IN_PROGRESS,
        attempts=item.attempts + 1,
        claims=item.claims + 1,
        lease_owner=owner,
        lease_expires=lease_expires,
        started_at=item.started_at or now,
        run_id=run_id if run_id is not None else item.run_id,
    )
    return Change(item, after, f"claimed by {owner}", after.run_id)


def _require_lease(item: WorkItem, owner: str) -> None:
    if item.state != ItemState.IN_PROGRESS or item.lease_owner != owner:
        raise LeaseLostError(item.id, owner)


def lease_extended(item: WorkItem, *, owner: str, lease_expires: datetime) -> WorkItem:
    """Renew the lease (not a state change)."""
    _require_lease(item, owner)
    return replace(item, lease_expires=lease_expires)


def stage_finished(
    item: WorkItem, *, owner: str, stage: str, output: dict[str, Any]
) -> WorkItem:
    """Record a finished stage once and merge its output (not a state change)."""
    _require_lease(item, owner)
    stages = item.finished_stages
    if stage not in stages:
        stages = (*stages, stage)
    output = jsonable(output, "output")
    return replace(item, finished_stages=stages, output={**item.output, **output})


def _ended(item: WorkItem, state: ItemState, now: datetime, **changes: Any) -> WorkItem:
    return replace(
        item,
        state=state,
        lease_owner=None,
        lease_expires=None,
        finished_at=now,
        **changes,
    )


def completed(
    item: WorkItem, *, owner: str, output: dict[str, Any], note: str, now: datetime
) -> Change:
    """End the item ``done``; the errors of earlier attempts are cleared (and the
    stages' pending hand-offs, which the completion creates)."""
    _require_lease(item, owner)
    merged = {**item.output, **jsonable(output, "output")}
    merged.pop(PENDING_HANDOFFS, None)
    after = _ended(
        item,
        ItemState.DONE,
        now,
        output=merged,
        error_type=None,
        error_message=None,
    )
    return Change(item, after, note, item.run_id)


def failed(
    item: WorkItem,
    *,
    owner: str,
    error_type: str,
    message: str,
    retry_at: datetime | None,
    artifacts: Sequence[str],
    now: datetime,
) -> Change:
    """Record a system exception: ``new`` again at ``retry_at``, else ``failed``."""
    _require_lease(item, owner)
    errors: dict[str, Any] = {
        "error_type": error_type,
        "error_message": message,
        "artifacts": (*item.artifacts, *artifacts),
    }
    retry_at = aware(retry_at, "retry_at")
    if retry_at is None:
        after = _ended(item, ItemState.FAILED, now, **errors)
    else:
        after = replace(
            item,
            state=ItemState.NEW,
            not_before=retry_at,
            lease_owner=None,
            lease_expires=None,
            **errors,
        )
    return Change(item, after, f"{error_type}: {message}", item.run_id)


def business_excepted(
    item: WorkItem,
    *,
    owner: str,
    error_type: str,
    message: str,
    artifacts: Sequence[str],
    now: datetime,
) -> Change:
    """End the item as a business exception."""
    _require_lease(item, owner)
    after = _ended(
        item,
        ItemState.BUSINESS_EXCEPTION,
        now,
        error_type=error_type,
        error_message=message,
        artifacts=(*item.artifacts, *artifacts),
    )
    return Change(item, after, f"{error_type}: {message}", item.run_id)


def released(item: WorkItem, *, owner: str, note: str) -> Change:
    """Give the item back unprocessed: ``new``, its attempt uncounted."""
    _require_lease(item, owner)
    after = replace(
        item,
        state=ItemState.NEW,
        attempts=max(item.attempts - 1, 0),
        lease_owner=None,
        lease_expires=None,
    )
    return Change(item, after, note, item.run_id)


def recovered(item: WorkItem, *, note: str | None = None) -> Change:
    """Return an abandoned item to ``new``; the attempt stays counted.

    ``note`` says why (default: its lease expired).
    """
    if item.state != ItemState.IN_PROGRESS:
        raise InvalidTransitionError(item.id, item.state, "recover")
    after = replace(item, state=ItemState.NEW, lease_owner=None, lease_expires=None)
    return Change(item, after, note or f"lease of {item.lease_owner} expired", None)


def _require_exception(item: WorkItem, action: str) -> None:
    if item.state not in EXCEPTION_STATES:
        raise InvalidTransitionError(item.id, item.state, action)


def retried(item: WorkItem, *, note: str) -> Change:
    """Send an exception item back to ``new`` with a fresh attempt budget."""
    _require_exception(item, "retry")
    after = replace(
        item, state=ItemState.NEW, attempts=0, not_before=None, finished_at=None
    )
    return Change(item, after, note, None)


def resolved(item: WorkItem, *, note: str, now: datetime) -> Change:
    """Close an exception item as ``resolved``."""
    _require_exception(item, "resolve")
    after = replace(item, state=ItemState.RESOLVED, finished_at=now)
    return Change(item, after, require_note(note, "resolve"), None)


def corrected(
    item: WorkItem, *, payload: dict[str, Any], note: str, run_id: str | None
) -> Change:
    """Give an exception item a corrected payload and send it back to ``new``.

    Like :func:`retried` (a fresh attempt budget), and the error is cleared: a
    later input row said what the values should have been.
    """
    _require_exception(item, "correct")
    after = replace(
        item,
        payload=jsonable(payload, "payload"),
        state=ItemState.NEW,
        attempts=0,
        not_before=None,
        finished_at=None,
        error_type=None,
        error_message=None,
    )
    return Change(item, after, require_note(note, "correct"), run_id)
