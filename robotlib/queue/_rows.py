"""Rows of the SQL backend to records and back.

Each column is named as the field of its record (:mod:`robotlib.queue.models`), so a
row converts field by field; only enums and tuples (stored as strings and JSON
lists) need a hand.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import Row

from robotlib.queue.models import HistoryEntry, ItemState, Run, RunStatus, WorkItem

__all__ = ["history", "history_values", "item", "item_values", "run"]

_ITEM_COLUMNS = [f.name for f in fields(WorkItem) if f.name != "id"]


def item(row: Row[Any]) -> WorkItem:
    """Return the work item of a ``work_items`` row."""
    values = dict(row._mapping)
    values["state"] = ItemState(values["state"])
    values["finished_stages"] = tuple(values["finished_stages"])
    values["artifacts"] = tuple(values["artifacts"])
    return WorkItem(**values)


def item_values(item: WorkItem) -> dict[str, Any]:
    """Return the column values of a work item, its id left out."""
    values = {name: getattr(item, name) for name in _ITEM_COLUMNS}
    values["state"] = item.state.value
    values["finished_stages"] = list(item.finished_stages)
    values["artifacts"] = list(item.artifacts)
    return values


def history(row: Row[Any]) -> HistoryEntry:
    """Return the history entry of an ``item_history`` row."""
    values = dict(row._mapping)
    del values["id"]
    values["from_state"] = (
        ItemState(values["from_state"]) if values["from_state"] else None
    )
    values["to_state"] = ItemState(values["to_state"])
    return HistoryEntry(**values)


def history_values(entry: HistoryEntry, item_id: int) -> dict[str, Any]:
    """Return the column values of a history entry of item ``item_id``."""
    values = {f.name: getattr(entry, f.name) for f in fields(HistoryEntry)}
    values["item_id"] = item_id
    values["from_state"] = entry.from_state.value if entry.from_state else None
    values["to_state"] = entry.to_state.value
    return values


def run(row: Row[Any]) -> Run:
    """Return the run of a ``runs`` row."""
    values = dict(row._mapping)
    values["status"] = RunStatus(values["status"])
    values["counts"] = dict(values["counts"])
    return Run(**values)
