"""A run's event log as the run page's timeline: masked, one line per event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from robotlib.console._masking import shown_text
from robotlib.console._records import TimelineEvent
from robotlib.logs import read_events

__all__ = ["read_timeline"]

#: Event keys shown in their own columns, not among the other fields.
_TIMELINE_OWN_KEYS = frozenset(
    {"timestamp", "level", "event", "robot", "run_id", "logger", "item", "item_id"}
    | {"step", "exception"}
)
#: The longest fields text shown; longer ones end in an ellipsis.
_TEXT_LIMIT = 300


def read_timeline(
    path: Path, *, show_cpr: bool, include_debug: bool
) -> list[TimelineEvent]:
    """The events of a run's ``events.jsonl``, oldest first, CPR numbers masked.

    Debug events are left out unless ``include_debug``; ``show_cpr`` (an audited
    reveal) shows CPR numbers in full.
    """
    found = []
    for event in read_events(path):
        level = str(event.get("level", "warning")).lower()
        if level == "debug" and not include_debug:
            continue
        item_id = event.get("item_id")
        found.append(
            TimelineEvent(
                at=_parse_time(event.get("timestamp")),
                level=level,
                event=shown_text(str(event.get("event", "")), clear=show_cpr),
                item=shown_text(_text(event.get("item", "")), clear=show_cpr),
                item_id=item_id if isinstance(item_id, int) else None,
                step=shown_text(_text(event.get("step", "")), clear=show_cpr),
                text=shown_text(_fields_text(event), clear=show_cpr),
                exception=shown_text(_text(event.get("exception", "")), clear=show_cpr),
            )
        )
    return found


def _fields_text(event: Mapping[str, Any]) -> str:
    text = " ".join(
        f"{key}={_text(value)}"
        for key, value in event.items()
        if key not in _TIMELINE_OWN_KEYS
    )
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, default=str)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
