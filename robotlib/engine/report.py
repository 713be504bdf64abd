"""The run report: ``report.xlsx`` in each run's folder, for the operator.

A Summary (the run's facts, its items' counts by state and a chart of them), the
Items, the Exceptions (business exceptions and failures with their screenshots) and
the Timings (slowest first). Written by the engine when a run ends; a failure to
write it is logged, never fatal to the run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from robotlib.errors import RobotlibError
from robotlib.logs import display_masker
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import ItemState, Outcome, Run, WorkItem
from robotlib.workbooks import (
    Column,
    Highlight,
    add_facts_chart,
    local_time,
    new_workbook,
    save,
    write_summary,
    write_table,
)

__all__ = ["write_report", "write_run_report"]

log = structlog.get_logger("robotlib.engine")


def write_report(
    backend: QueueBackend,
    run_id: str,
    robot: str,
    path: Path,
    *,
    outputs: Sequence[str],
    clear_cpr: bool,
) -> None:
    """Write a run's report to ``path`` from the queue; a failure is logged.

    CPR numbers are masked unless the project keeps them in clear
    (``cpr_in_logs = "clear"``).
    """
    try:
        write_run_report(
            path,
            run=backend.get_run(run_id),
            items=backend.items(robot, run_id=run_id),
            outputs=outputs,
            mask=None if clear_cpr else display_masker().redact,
        )
    except (OSError, RobotlibError, KeyError, ValueError) as exc:
        log.error("report_failed", error=str(exc))


def write_run_report(
    path: Path,
    *,
    run: Run,
    items: Sequence[WorkItem],
    outputs: Sequence[str] = (),
    mask: Callable[[str], str] | None = None,
) -> Path:
    """Write a run's report: Summary, Items, Exceptions and Timings sheets.

    Times are shown in Copenhagen local time. References, messages, the run's note
    and text outputs pass through ``mask`` (give a CPR masker, such as
    ``Redactor(cpr_mode="mask", key=b"").redact``); with None they are written as
    they are. Business exceptions and failures are highlighted; the Exceptions
    sheet lists them with their screenshots, for the operator.

    Args:
        path: the file to write, e.g. ``<run folder>/report.xlsx``.
        run: the run record.
        items: the run's items.
        outputs: keys of ``item.output`` to show as columns of the Items sheet.
        mask: hides patient data in text.

    Returns:
        ``path``.

    Example:
        >>> redactor = Redactor(cpr_mode="mask", key=b"")
        >>> write_run_report(run_dir / "report.xlsx", run=backend.get_run(run_id),
        ...                  items=items, outputs=["lab_id"], mask=redactor.redact)
    """
    hide = mask or _unchanged
    workbook = new_workbook()
    write_table(
        workbook,
        "Items",
        [_item_row(item, outputs, hide) for item in items],
        columns=_item_columns(outputs),
        highlight=[
            Highlight(column="State", equals=state.value, fill=fill, whole_row=True)
            for state, fill in _STATE_FILLS.items()
        ],
    )
    write_table(
        workbook,
        "Exceptions",
        [_exception_row(item, hide) for item in items if item.state in _STATE_FILLS],
        columns=[Column(key) for key in _EXCEPTION_HEADERS],
    )
    seconds = {item.id: _seconds(item.started_at, item.finished_at) for item in items}
    slowest_first = sorted(items, key=lambda item: -(seconds[item.id] or 0.0))
    write_table(
        workbook,
        "Timings",
        [
            {
                "Reference": hide(item.reference),
                "State": item.state.value,
                "Duration (s)": seconds[item.id],
            }
            for item in slowest_first
        ],
        columns=[Column("Reference"), Column("State"), Column("Duration (s)")],
    )
    states = Counter(item.state for item in items)
    counted = [s for s in ItemState if s in _ALWAYS_COUNTED or states[s]]
    timed = [value for value in seconds.values() if value is not None]
    run_seconds = _seconds(run.started_at, run.finished_at)
    facts: list[tuple[str, Any]] = [
        ("Robot", run.robot),
        ("Run id", run.id),
        ("Status", run.status.value),
        ("Note", hide(run.note)),
        ("Started", local_time(run.started_at)),
        ("Finished", local_time(run.finished_at)),
        ("Duration", None if run_seconds is None else _clock(run_seconds)),
        ("Host", run.host),
        ("Items", len(items)),
    ]
    first_count = len(facts) + 1  # the counts' rows, charted on the Summary
    facts += [
        (state.value.replace("_", " ").capitalize(), states[state]) for state in counted
    ]
    facts += [
        ("Retries", run.counts.get(Outcome.RETRIED, 0)),
        ("Mean item duration (s)", sum(timed) / len(timed) if timed else None),
        ("Slowest item (s)", max(timed, default=None)),
    ]
    summary = write_summary(workbook, "Summary", facts)
    add_facts_chart(
        summary,
        title="Items by outcome",
        first_row=first_count,
        last_row=first_count + len(counted) - 1,
    )
    return save(workbook, path)


# Private API ----------------------------------------------------------------------

#: Exception states, and the fill of their rows on the Items sheet.
_STATE_FILLS = {
    ItemState.BUSINESS_EXCEPTION: "FFF2CC",
    ItemState.FAILED: "FFC7CE",
}
_ALWAYS_COUNTED = frozenset(
    {ItemState.DONE, ItemState.BUSINESS_EXCEPTION, ItemState.FAILED}
)
_EXCEPTION_HEADERS = (
    "ID",
    "Reference",
    "State",
    "Error type",
    "Reason",
    "Attempts",
    "Finished",
    "Artifacts",
)


def _item_columns(outputs: Sequence[str]) -> list[Column]:
    fixed = ["ID", "Reference", "State", "Attempts", "Finished stages"]
    after = ["Error type", "Error message", "Started", "Finished", "Duration (s)"]
    produced = [Column(f"output:{key}", key) for key in outputs]
    return [*map(Column, fixed), *produced, *map(Column, after)]


def _item_row(
    item: WorkItem, outputs: Sequence[str], hide: Callable[[str], str]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ID": item.id,
        "Reference": hide(item.reference),
        "State": item.state.value,
        "Attempts": item.attempts,
        "Finished stages": ", ".join(item.finished_stages),
    }
    for key in outputs:
        value = item.output.get(key)
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False, default=str)
        row[f"output:{key}"] = hide(value) if isinstance(value, str) else value
    return row | {
        "Error type": item.error_type,
        "Error message": hide(item.error_message or "") or None,
        "Started": local_time(item.started_at),
        "Finished": local_time(item.finished_at),
        "Duration (s)": _seconds(item.started_at, item.finished_at),
    }


def _exception_row(item: WorkItem, hide: Callable[[str], str]) -> dict[str, Any]:
    return {
        "ID": item.id,
        "Reference": hide(item.reference),
        "State": item.state.value,
        "Error type": item.error_type,
        "Reason": hide(item.error_message or item.error_type or ""),
        "Attempts": item.attempts,
        "Finished": local_time(item.finished_at),
        "Artifacts": "\n".join(item.artifacts),
    }


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def _unchanged(text: str) -> str:
    return text
