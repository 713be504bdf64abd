"""What the console's pages show, read from the queue, run folders and schedules.

Pure Python, no web code: each function takes a :class:`~robotlib.project.Project`
and returns the frozen records of :mod:`robotlib.console._records`, which a
template can render as they are. Times are UTC-aware datetimes; the pages show
them in :data:`robotlib.settings.DISPLAY_TZ`.

CPR numbers are masked (``DDMMYY-****``) in everything shown, unless a function is
called with ``show_cpr=True`` (the web layer decides who may); ``_masking`` does
it. Secrets were redacted when the data was written; keys that look like
passwords stay hidden here too. Nothing here logs or prints patient data.

- :func:`dashboard`: last night's run of each robot, runs that need a look, the
  exception queue by robot, 30 nights of outcomes and the next scheduled runs;
  :func:`svg_chart` (from ``_chart``) draws the nights as an inline SVG bar chart.
- :func:`run_page`: one run: summary, items (filtered, searched), event timeline,
  screenshots, traces and report; :func:`run_file` (from ``_run_files``) is the
  only way to a file of a run folder (downloads), refusing any path that leads
  outside it.
- :func:`exception_queue`: items waiting for a person, oldest first.
- :func:`item_page`: one item with its history, audit entries and artifacts.

This module re-exports the records, :func:`svg_chart` and :func:`run_file`, so the
web layer and the tests import everything a page needs from here.

A run started by ``rpa run --workers N`` coordinates worker runs whose ids are its
own plus ``w1``, ``w2``, …; the coordinator's counts are theirs together, so the
dashboard shows the coordinator only and its run page gathers the workers' items.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from robotlib.console._attention import run_attention
from robotlib.console._chart import svg_chart
from robotlib.console._i18n import ENGLISH, Catalogue
from robotlib.console._masking import reference_matches, shown_data, shown_text
from robotlib.console._records import (
    Artifact,
    AttentionRun,
    AuditRow,
    Dashboard,
    ExceptionCounts,
    ExceptionRow,
    HistoryRow,
    ItemDetail,
    ItemLink,
    ItemPage,
    ItemRow,
    NextRun,
    NightCounts,
    OutcomeCounts,
    RobotLastRun,
    RunPage,
    RunSummary,
    TimelineEvent,
)
from robotlib.console._run_files import find_run, item_artifact, run_artifacts, run_file
from robotlib.console._timeline import read_timeline
from robotlib.engine import coordinator_of
from robotlib.errors import ConfigurationError, ItemNotFoundError
from robotlib.project import Project
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import EXCEPTION_STATES, ItemState, Run, RunStatus, WorkItem
from robotlib.scheduler import ScheduleService
from robotlib.settings import DISPLAY_TZ

__all__ = [
    "Artifact",
    "AttentionRun",
    "AuditRow",
    "Dashboard",
    "ExceptionCounts",
    "ExceptionRow",
    "HistoryRow",
    "ItemDetail",
    "ItemPage",
    "ItemRow",
    "NextRun",
    "NightCounts",
    "OutcomeCounts",
    "RobotLastRun",
    "RunPage",
    "RunSummary",
    "TimelineEvent",
    "dashboard",
    "exception_queue",
    "is_trace",
    "item_page",
    "night_of",
    "run_file",
    "run_page",
    "svg_chart",
    "trace_item",
]


#: The states of the exception queue: waiting for an operator.

_TRACE_OF_ITEM = re.compile(r"item-(\d+)-")


# Public API: the dashboard --------------------------------------------------------


def night_of(moment: datetime) -> date:
    """Return the night ``moment`` belongs to: the local date its noon-to-noon began.

    Example:
        >>> night_of(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 03:00 local
        datetime.date(2026, 11, 22)
    """
    local = _aware(moment, "moment").astimezone(DISPLAY_TZ)
    return (local - timedelta(hours=12)).date()


def dashboard(
    project: Project,
    *,
    now: datetime,
    nights: int = 30,
    catalogue: Catalogue = ENGLISH,
) -> Dashboard:
    """Read the morning overview.

    "Last night" is every run started since 12:00 local time the day before
    ``now``; a robot without one shows its latest run instead.

    Nights are counted from the runs' counts, not from the items' ``finished_at``:
    an item keeps one ``finished_at`` and one state, so an item that ended a
    business exception on Monday night and, retried by an operator, done on
    Tuesday night would move to Tuesday and its Monday exception would vanish
    (and a resolved item would vanish altogether). A run's counts are written
    when the run ends and never change, so each night keeps what happened in it,
    and an item retried in a later run counts in both nights, once per outcome.
    A run is bucketed by its start (a run from 23:30 to 01:00 is one night's);
    a run still going counts nothing yet. A coordinator of ``--workers`` runs is
    counted once, its workers' counts added only if it crashed before summing them.

    Args:
        project: the project.
        now: the current time (timezone-aware).
        nights: how many nights to count, the current one included.
        catalogue: the language of the reasons and who handled them.

    Raises:
        ValueError: ``now`` is naive.

    Example:
        >>> board = dashboard(project, now=datetime.now(UTC))  # doctest: +SKIP
        >>> [(r.robot, r.run.status) for r in board.robots]  # doctest: +SKIP
        [('lab_results', <RunStatus.COMPLETED: 'completed'>)]
    """
    now = _aware(now, "now")
    since = _last_night_start(now)
    runs = [run for run in project.backend.runs() if run.started_at <= now]
    top, workers = _split_workers(runs)
    top.sort(key=_newest_first)
    summaries = {run.id: _summary(run, workers.get(run.id, ())) for run in top}

    latest: dict[str, Run] = {}
    for run in top:  # newest first: the first one seen per robot is its latest
        latest.setdefault(run.robot, run)
    shown = [
        RobotLastRun(robot, summaries[run.id], run.started_at >= since)
        for robot, run in sorted(latest.items())
    ]
    to_check = {run.id: run for run in top if run.started_at >= since}
    to_check.update({entry.run.id: latest[entry.robot] for entry in shown})
    waiting = project.backend.items(states=EXCEPTION_STATES)
    attention: list[AttentionRun] = []
    handled: list[AttentionRun] = []
    for run in sorted(to_check.values(), key=_newest_first):
        entry = run_attention(
            project, summaries[run.id], workers.get(run.id, ()), waiting, catalogue
        )
        if entry is None:
            continue
        still_open = entry.open_failed or entry.open_business
        ended_badly = run.status in (RunStatus.CRASHED, RunStatus.STOPPED)
        (attention if still_open or ended_badly else handled).append(entry)
    queue = _exception_counts(waiting)
    next_runs, problems = _next_runs(project)
    return Dashboard(
        now=now,
        since=since,
        robots=tuple(shown),
        attention=tuple(attention),
        handled=tuple(handled),
        exception_queue=tuple(queue),
        exceptions_total=sum(entry.total for entry in queue),
        nights=tuple(_nights(top, summaries, now, nights)),
        next_runs=tuple(next_runs),
        schedule_problems=tuple(problems),
    )


# Public API: a run ----------------------------------------------------------------


def run_page(
    project: Project,
    run_id: str,
    *,
    outcome: ItemState | str | None = None,
    search: str | None = None,
    show_cpr: bool = False,
    include_debug: bool = False,
) -> RunPage:
    """Read one run: summary, items, event timeline and files.

    The items are those whose latest run this is (an item retried in a later run
    shows there), with the items of the run's workers.

    Args:
        project: the project.
        run_id: the run's id or a unique prefix of it.
        outcome: only items in this state (``"business_exception"``, say).
        search: only items whose reference holds this text (case-insensitive).
            A text holding a full CPR number is compared with the reference in
            clear, with or without the dash, so typing a patient's number finds
            the masked row; any other text is compared with the reference as
            shown, so a search cannot reveal a hidden serial digit by digit.
        show_cpr: show CPR numbers in clear.
        include_debug: keep debug events (``step_started``) in the timeline.

    Raises:
        KeyError: no run has that id, or the prefix is ambiguous.
        ValueError: ``outcome`` is not an item state.

    Example:
        >>> page = run_page(project, "20261122T01", outcome="failed")  # doctest: +SKIP
        >>> [item.reference for item in page.items]  # doctest: +SKIP
        ['240512-****|NPU02319']
    """
    run = find_run(project, run_id)
    wanted = ItemState(outcome) if outcome is not None else None
    worker_runs = _workers_of(project, run)
    items: list[WorkItem] = []
    for source in (run, *worker_runs):
        items += project.backend.items(run.robot, run_id=source.id)
    items.sort(key=lambda item: item.id)
    selected = [
        item
        for item in items
        if (wanted is None or item.state == wanted)
        and (not search or reference_matches(item.reference, search, clear=show_cpr))
    ]
    folder = project.run_dir(run)
    files = run_artifacts(folder, project.settings.logs, run.id, items)
    log_file = folder / "events.jsonl"
    timeline = (
        read_timeline(log_file, show_cpr=show_cpr, include_debug=include_debug)
        if log_file.is_file()
        else []
    )
    return RunPage(
        run=_summary(run, worker_runs, clear=show_cpr),
        folder=folder,
        workers=tuple(_summary(w, (), clear=show_cpr) for w in worker_runs),
        items=tuple(_item_row(item, clear=show_cpr) for item in selected),
        item_count=len(items),
        outcome=wanted,
        search=search or None,
        timeline=tuple(timeline),
        log=next((f for f in files if f.kind == "log"), None),
        report=next((f for f in files if f.kind == "report"), None),
        screenshots=tuple(f for f in files if f.kind == "screenshot"),
        traces=tuple(f for f in files if f.kind == "trace"),
    )


# Public API: the exception queue and an item ---------------------------------------


def exception_queue(
    project: Project,
    *,
    robot: str | None = None,
    state: ItemState | str | None = None,
    error_type: str | None = None,
    since: date | None = None,
    until: date | None = None,
    search: str | None = None,
    now: datetime,
    show_cpr: bool = False,
) -> list[ExceptionRow]:
    """Return the items waiting for a person (exceptions, failed ones), oldest first.

    Args:
        project: the project.
        robot: only this robot's items.
        state: only items in this state (``failed`` or ``business_exception``).
        error_type: only items with this error code (``ValidationError``, say).
        since: only items that ended on this local date or later.
        until: only items that ended on this local date or earlier.
        search: only items whose reference holds this text, as the run page
            searches (a full CPR number finds its masked row).
        now: the current time (timezone-aware), for each item's age.
        show_cpr: show CPR numbers in clear.

    Raises:
        ValueError: ``now`` is naive, or ``state`` is not an exception state.

    Example:
        >>> rows = exception_queue(project, now=datetime.now(UTC))  # doctest: +SKIP
        >>> rows[0].reference, rows[0].reason  # doctest: +SKIP
        ('240512-****|NPU02319', 'No patient with CPR 240512-**** in the lab system')
    """
    now = _aware(now, "now")
    states = EXCEPTION_STATES
    if state is not None:
        if ItemState(state) not in EXCEPTION_STATES:
            raise ValueError(f"{state!r} is not a state of the exception queue")
        states = frozenset({ItemState(state)})
    items = [
        item
        for item in project.backend.items(robot, states=states)
        if (not error_type or item.error_type == error_type)
        and (since is None or _local_day(_ended_at(item)) >= since)
        and (until is None or _local_day(_ended_at(item)) <= until)
        and (not search or reference_matches(item.reference, search, clear=show_cpr))
    ]
    items.sort(key=lambda item: (_ended_at(item), item.id))
    return [
        ExceptionRow(
            item_id=item.id,
            robot=item.robot,
            reference=shown_text(item.reference, clear=show_cpr),
            reason=shown_text(item.error_message, clear=show_cpr),
            error_type=item.error_type or "",
            state=item.state,
            attempts=item.attempts,
            finished_at=item.finished_at,
            age=max(now - _ended_at(item), timedelta(0)),
            run_id=item.run_id,
        )
        for item in items
    ]


def item_page(project: Project, item_id: int, *, show_cpr: bool = False) -> ItemPage:
    """Read one item: its data, history, audit entries and artifacts.

    Raises:
        ItemNotFoundError: no item has that id (a ``KeyError``).

    Example:
        >>> page = item_page(project, 7)  # doctest: +SKIP
        >>> [(h.from_state, h.to_state) for h in page.history][-1]  # doctest: +SKIP
        (<ItemState.BUSINESS_EXCEPTION: ...>, <ItemState.NEW: 'new'>)
    """
    backend = project.backend
    item = backend.get(item_id)
    history = [
        HistoryRow(
            entry.at,
            entry.from_state,
            entry.to_state,
            entry.run_id,
            shown_text(entry.note, clear=show_cpr),
        )
        for entry in backend.history(item_id)
    ]
    audit = [
        AuditRow(
            entry.at, entry.actor, entry.action, shown_text(entry.note, clear=show_cpr)
        )
        for entry in sorted(
            backend.audit_log(item_id=item_id), key=lambda e: (e.at, e.id)
        )
    ]
    detail = ItemDetail(
        id=item.id,
        robot=item.robot,
        reference=shown_text(item.reference, clear=show_cpr),
        state=item.state,
        attempts=item.attempts,
        claims=item.claims,
        priority=item.priority,
        stages=item.finished_stages,
        created_at=item.created_at,
        started_at=item.started_at,
        finished_at=item.finished_at,
        error_type=item.error_type or "",
        error=shown_text(item.error_message, clear=show_cpr),
        payload=shown_data(item.payload, clear=show_cpr),
        output=shown_data(item.output, clear=show_cpr),
        run_id=item.run_id,
        not_before=item.not_before,
        deadline=item.deadline,
        parent=_link(backend, item.parent_id),
        children=tuple(
            ItemLink(c.id, c.robot, c.state) for c in backend.items(parent_id=item.id)
        ),
    )
    artifacts = [item_artifact(project, item, path) for path in item.artifacts]
    code = None
    if item.run_id is not None:
        with contextlib.suppress(KeyError):
            code = backend.get_run(item.run_id).code
    return ItemPage(detail, tuple(history), tuple(audit), tuple(artifacts), code)


def _link(backend: QueueBackend, item_id: int | None) -> ItemLink | None:
    if item_id is None:
        return None
    try:
        found = backend.get(item_id)
    except ItemNotFoundError:  # purged
        return None
    return ItemLink(found.id, found.robot, found.state)


def is_trace(path: Path) -> bool:
    """Tell whether a file of a run is a Playwright trace (patient data in clear)."""
    return path.name.lower().endswith(".zip")


def trace_item(path: Path) -> int | None:
    """The item a trace was kept for, read from its name (``item-7-…-trace.zip``)."""
    match = _TRACE_OF_ITEM.match(path.name)
    return int(match[1]) if match else None


# Private API: runs ----------------------------------------------------------------


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _last_night_start(now: datetime) -> datetime:
    """12:00 local time on the day before ``now``'s local date, in UTC."""
    day = now.astimezone(DISPLAY_TZ).date() - timedelta(days=1)
    return datetime.combine(day, time(12), tzinfo=DISPLAY_TZ).astimezone(UTC)


def _newest_first(run: Run) -> tuple[float, str]:
    return (-run.started_at.timestamp(), run.id)


def _split_workers(runs: Iterable[Run]) -> tuple[list[Run], dict[str, list[Run]]]:
    """Runs that are not a worker of another, and each coordinator's workers."""
    found = list(runs)
    by_id = {run.id: run for run in found}
    top: list[Run] = []
    workers: dict[str, list[Run]] = defaultdict(list)
    for run in found:
        parent_id = coordinator_of(run.id)
        parent = by_id.get(parent_id) if parent_id else None
        if parent is not None and parent.robot == run.robot:
            workers[parent.id].append(run)
        else:
            top.append(run)
    return top, workers


def _workers_of(project: Project, run: Run) -> list[Run]:
    found = [
        other
        for other in project.backend.runs(run.robot)
        if coordinator_of(other.id) == run.id
    ]
    return sorted(found, key=lambda other: (len(other.id), other.id))  # w2 < w10


def _effective_counts(run: Run, workers: Sequence[Run]) -> OutcomeCounts:
    """A run's counts; a coordinator that did not finish gets its workers' added."""
    counts = dict(run.counts)
    if workers and run.status in (RunStatus.RUNNING, RunStatus.CRASHED):
        for worker in workers:
            for key, value in worker.counts.items():
                counts[key] = counts.get(key, 0) + value
    return OutcomeCounts.of(counts)


def _summary(run: Run, workers: Sequence[Run], *, clear: bool = False) -> RunSummary:
    duration = run.finished_at - run.started_at if run.finished_at is not None else None
    return RunSummary(
        id=run.id,
        robot=run.robot,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration=duration,
        counts=_effective_counts(run, workers),
        host=run.host,
        pid=run.pid,
        note=shown_text(run.note, clear=clear),
        code=run.code,
    )


def _exception_counts(items: Iterable[WorkItem]) -> list[ExceptionCounts]:
    counts: dict[str, dict[ItemState, int]] = defaultdict(lambda: defaultdict(int))
    for item in items:
        counts[item.robot][item.state] += 1
    return [
        ExceptionCounts(
            robot,
            by_state[ItemState.BUSINESS_EXCEPTION],
            by_state[ItemState.FAILED],
        )
        for robot, by_state in sorted(counts.items())
    ]


def _nights(
    top: Iterable[Run], summaries: Mapping[str, RunSummary], now: datetime, count: int
) -> list[NightCounts]:
    last = night_of(now)
    first = last - timedelta(days=count - 1)
    totals: dict[date, list[int]] = {
        first + timedelta(days=offset): [0, 0, 0] for offset in range(count)
    }
    for run in top:
        bucket = totals.get(night_of(run.started_at))
        if bucket is None:
            continue
        counts = summaries[run.id].counts
        bucket[0] += counts.done
        bucket[1] += counts.business_exception
        bucket[2] += counts.failed
    return [NightCounts(night, *values) for night, values in sorted(totals.items())]


def _next_runs(project: Project) -> tuple[list[NextRun], list[str]]:
    """The next firing of each job, read as ``rpa schedules`` reads them.

    The scheduler computes next fire times from the wall clock (its stored next
    run time when a scheduler has stored the job as the files define it).
    """
    if not (project.settings.project_dir / "schedules").is_dir():
        return [], []
    try:
        scheduler = ScheduleService(project)
    except ConfigurationError as exc:  # a memory:// queue has no job store
        return [], [str(exc)]
    try:
        found, problems = scheduler.status(count=1)
    finally:
        scheduler.close()
    upcoming = [
        NextRun(
            status.job.name,
            status.job.robot,
            status.next_runs[0].astimezone(UTC),
            status.job.description,
        )
        for status in found
        if status.next_runs and not status.paused
    ]
    upcoming.sort(key=lambda entry: (entry.at, entry.job))
    return upcoming, [str(problem) for problem in problems]


# Private API: items and events ---------------------------------------------------


def _item_row(item: WorkItem, *, clear: bool) -> ItemRow:
    return ItemRow(
        id=item.id,
        robot=item.robot,
        reference=shown_text(item.reference, clear=clear),
        state=item.state,
        attempts=item.attempts,
        error_type=item.error_type or "",
        error=shown_text(item.error_message, clear=clear),
        output=shown_data(item.output, clear=clear),
        finished_at=item.finished_at,
        run_id=item.run_id,
    )


def _ended_at(item: WorkItem) -> datetime:
    return item.finished_at or item.created_at


def _local_day(moment: datetime) -> date:
    return moment.astimezone(DISPLAY_TZ).date()
