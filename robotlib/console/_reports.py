"""What the console's pages show, read from the queue, run folders and schedules.

Pure Python, no web code: each function takes a :class:`~robotlib.project.Project`
and returns frozen dataclasses a template can render as they are. Times are
UTC-aware datetimes; the pages show them in :data:`LOCAL_TZ`.

CPR numbers are masked (``DDMMYY-****``) in everything shown, unless a function is
called with ``show_cpr=True`` (the web layer decides who may). Secrets were
redacted when the data was written; keys that look like passwords stay hidden here
too. Nothing here logs or prints patient data.

- :func:`dashboard`: last night's run of each robot, runs that need a look, the
  exception queue by robot, 30 nights of outcomes and the next scheduled runs;
  :func:`svg_chart` draws the nights as an inline SVG bar chart.
- :func:`run_page`: one run: summary, items (filtered, searched), event timeline,
  screenshots, traces and report; :func:`run_file` is the only way to a file of a
  run folder (downloads), refusing any path that leads outside it.
- :func:`exception_queue`: items waiting for a person, oldest first.
- :func:`item_page`: one item with its history, audit entries and artifacts.

A run started by ``rpa run --workers N`` coordinates worker runs whose ids are its
own plus ``w1``, ``w2``, …; the coordinator's counts are theirs together, so the
dashboard shows the coordinator only and its run page gathers the workers' items.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal
from zoneinfo import ZoneInfo

from robotlib.cpr import CPR_PATTERN
from robotlib.errors import ConfigurationError
from robotlib.logs import Redactor, read_events
from robotlib.project import Project
from robotlib.queue.models import ItemState, Run, RunStatus, WorkItem
from robotlib.scheduler import Scheduler

__all__ = [
    "LOCAL_TZ",
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
    "item_page",
    "night_of",
    "run_file",
    "run_page",
    "svg_chart",
]

#: The time zone the pages show, and the one nights are counted in.
LOCAL_TZ = ZoneInfo("Europe/Copenhagen")

#: The states of the exception queue: waiting for an operator.
EXCEPTION_STATES = (ItemState.BUSINESS_EXCEPTION, ItemState.FAILED)

ArtifactKind = Literal["screenshot", "trace", "report", "log", "file"]

_MASKED = Redactor(cpr_mode="mask", key=b"")
_CLEAR = Redactor(cpr_mode="clear", key=b"")  # still hides password-like keys

#: ``<coordinator run id>w<N>``: a worker run of ``rpa run --workers N``.
_WORKER_RUN = re.compile(r"(?P<parent>.+)w\d+")
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
_TIMELINE_OWN_KEYS = frozenset(
    {"timestamp", "level", "event", "robot", "run_id", "logger", "item", "item_id"}
    | {"step", "exception"}
)
_TEXT_LIMIT = 300
_REASON_LIMIT = 200


# Records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutcomeCounts:
    """Items by outcome: ``retried`` counts attempts that will be tried again."""

    done: int = 0
    business_exception: int = 0
    failed: int = 0
    retried: int = 0

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> OutcomeCounts:
        """Read a run's counts (other keys, such as ``setup_failed``, are ignored)."""
        return cls(
            done=counts.get("done", 0),
            business_exception=counts.get("business_exception", 0),
            failed=counts.get("failed", 0),
            retried=counts.get("retried", 0),
        )

    @property
    def total(self) -> int:
        """Items that ended: done, business exceptions and failed."""
        return self.done + self.business_exception + self.failed


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run as a page shows it; ``note`` is masked unless asked otherwise."""

    id: str
    robot: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    duration: timedelta | None
    counts: OutcomeCounts
    host: str
    pid: int
    note: str


@dataclass(frozen=True, slots=True)
class RobotLastRun:
    """A robot's run to review: last night's, else (``last_night`` False) its latest."""

    robot: str
    run: RunSummary
    last_night: bool


@dataclass(frozen=True, slots=True)
class AttentionRun:
    """A run that needs a look, and why, in one line."""

    run: RunSummary
    reason: str


@dataclass(frozen=True, slots=True)
class ExceptionCounts:
    """A robot's items waiting in the exception queue."""

    robot: str
    business_exception: int
    failed: int

    @property
    def total(self) -> int:
        """Business exceptions and failed items together."""
        return self.business_exception + self.failed


@dataclass(frozen=True, slots=True)
class NightCounts:
    """Items that ended in one night, 12:00 ``night`` to 12:00 the next day (local)."""

    night: date
    done: int = 0
    business_exception: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        """All items that ended that night."""
        return self.done + self.business_exception + self.failed

    @property
    def label(self) -> str:
        """The night in Danish short dates: ``22/11-23/11``."""
        after = self.night + timedelta(days=1)
        return f"{self.night.day}/{self.night.month}-{after.day}/{after.month}"


@dataclass(frozen=True, slots=True)
class NextRun:
    """A scheduled job's next firing (``at`` in UTC)."""

    job: str
    robot: str
    at: datetime
    description: str


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The morning overview.

    Attributes:
        now: when it was read.
        since: the start of "last night": 12:00 local time the day before ``now``.
        robots: per robot, last night's latest run (else its latest run).
        attention: runs since ``since`` (and the robots' runs shown) that stopped,
            crashed or have failed items or business exceptions, newest first.
        exception_queue: per robot, the items waiting for a person now.
        exceptions_total: all of them together.
        nights: the last nights, oldest first, the current one last.
        next_runs: the next firing of each enabled job, soonest first.
        schedule_problems: what is wrong in ``schedules/*.toml``, if anything.
    """

    now: datetime
    since: datetime
    robots: tuple[RobotLastRun, ...]
    attention: tuple[AttentionRun, ...]
    exception_queue: tuple[ExceptionCounts, ...]
    exceptions_total: int
    nights: tuple[NightCounts, ...]
    next_runs: tuple[NextRun, ...]
    schedule_problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item in a list; ``reference``, ``error`` and ``output`` are masked."""

    id: int
    robot: str
    reference: str
    state: ItemState
    attempts: int
    error_type: str
    error: str
    output: dict[str, Any]
    finished_at: datetime | None
    run_id: str | None


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One line of a run's ``events.jsonl``, masked, for people.

    ``text`` is the event's other fields as ``key=value``, cut short; ``exception``
    is the traceback of an event logged with one.
    """

    at: datetime | None
    level: str
    event: str
    item: str
    item_id: int | None
    step: str
    text: str
    exception: str


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file of a run folder: ``path`` is relative to the folder of run ``run_id``.

    Serve it with ``run_file(project, artifact.run_id, artifact.path)``.
    """

    run_id: str | None
    path: str
    kind: ArtifactKind
    item_id: int | None = None
    exists: bool = True


@dataclass(frozen=True, slots=True)
class RunPage:
    """One run: its summary, items, timeline and files.

    Attributes:
        run: the summary.
        folder: the run folder (for people; serve files with :func:`run_file`).
        workers: the worker runs of a run with ``--workers``, if any.
        items: the run's items (its workers' included), filtered and searched.
        item_count: the run's items before filtering.
        outcome: the state filtered on, if any.
        search: the search text, if any.
        timeline: the events of ``events.jsonl``, in order.
        log, report: the event log and ``report.xlsx``, if present.
        screenshots, traces: the images and Playwright traces in the folder.
    """

    run: RunSummary
    folder: Path
    workers: tuple[RunSummary, ...]
    items: tuple[ItemRow, ...]
    item_count: int
    outcome: ItemState | None
    search: str | None
    timeline: tuple[TimelineEvent, ...]
    log: Artifact | None
    report: Artifact | None
    screenshots: tuple[Artifact, ...]
    traces: tuple[Artifact, ...]


@dataclass(frozen=True, slots=True)
class ExceptionRow:
    """An item waiting for a person; ``age`` is how long it has waited."""

    item_id: int
    robot: str
    reference: str
    reason: str
    error_type: str
    state: ItemState
    attempts: int
    finished_at: datetime | None
    age: timedelta
    run_id: str | None


@dataclass(frozen=True, slots=True)
class ItemDetail:
    """Everything about one item; text, payload and output masked."""

    id: int
    robot: str
    reference: str
    state: ItemState
    attempts: int
    claims: int
    priority: int
    stages: tuple[str, ...]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_type: str
    error: str
    payload: dict[str, Any]
    output: dict[str, Any]
    run_id: str | None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One state change of an item (``from_state`` None: it was created)."""

    at: datetime
    from_state: ItemState | None
    to_state: ItemState
    run_id: str | None
    note: str


@dataclass(frozen=True, slots=True)
class AuditRow:
    """An operator's action on an item."""

    at: datetime
    actor: str
    action: str
    note: str


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One item, its history and audit entries (oldest first) and its files."""

    item: ItemDetail
    history: tuple[HistoryRow, ...]
    audit: tuple[AuditRow, ...]
    artifacts: tuple[Artifact, ...]


# Public API: the dashboard --------------------------------------------------------


def night_of(moment: datetime) -> date:
    """Return the night ``moment`` belongs to: the local date its noon-to-noon began.

    Example:
        >>> night_of(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 03:00 local
        datetime.date(2026, 11, 22)
    """
    local = _aware(moment, "moment").astimezone(LOCAL_TZ)
    return (local - timedelta(hours=12)).date()


def dashboard(project: Project, *, now: datetime, nights: int = 30) -> Dashboard:
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
    attention = [
        AttentionRun(summaries[run.id], reason)
        for run in sorted(to_check.values(), key=_newest_first)
        if (reason := _attention_reason(summaries[run.id])) is not None
    ]
    queue = _exception_counts(project.backend.items(states=EXCEPTION_STATES))
    next_runs, problems = _next_runs(project)
    return Dashboard(
        now=now,
        since=since,
        robots=tuple(shown),
        attention=tuple(attention),
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
    run = _find_run(project, run_id)
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
        and (not search or _reference_matches(item.reference, search, show_cpr))
    ]
    folder = project.run_dir(run)
    files = _run_files(folder, project.settings.logs, run.id, items)
    log_file = folder / "events.jsonl"
    timeline = (
        _timeline(log_file, show_cpr=show_cpr, include_debug=include_debug)
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


def run_file(project: Project, run_id: str, relative: str) -> Path:
    """Return the file ``relative`` of a run's folder, refusing any way out of it.

    The web layer serves screenshots and downloads through this function only.

    Args:
        project: the project.
        run_id: the run's id (or a unique prefix).
        relative: a path inside the run folder, ``/``-separated
            (``item-7-attempt-1-lab.png``).

    Returns:
        The file's resolved path, inside the run folder.

    Raises:
        KeyError: no such run.
        ValueError: the path is empty, absolute, holds ``..``, or leads (through a
            symbolic link) outside the run folder, or the run folder lies outside
            the project's logs.
        FileNotFoundError: there is no such file.

    Example:
        >>> run_file(project, run.id, "report.xlsx")  # doctest: +SKIP
        PosixPath('/srv/rpa/logs/lab_results/20261122T010000Z-3f9a1c/report.xlsx')
    """
    run = _find_run(project, run_id)
    parts = _relative_parts(relative)
    folder = project.run_dir(run)
    try:
        root = folder.resolve(strict=True)
    except OSError:
        raise FileNotFoundError(f"run {run.id} has no folder") from None
    if not root.is_relative_to(project.settings.logs.resolve()):
        raise ValueError(f"the folder of run {run.id} lies outside the logs folder")
    try:
        target = root.joinpath(*parts).resolve(strict=True)
    except OSError:
        raise FileNotFoundError(f"run {run.id} has no file {relative!r}") from None
    if not target.is_relative_to(root):
        raise ValueError(f"{relative!r} leads outside the folder of run {run.id}")
    if not target.is_file():
        raise FileNotFoundError(f"{relative!r} of run {run.id} is not a file")
    return target


# Public API: the exception queue and an item ---------------------------------------


def exception_queue(
    project: Project,
    *,
    robot: str | None = None,
    now: datetime,
    show_cpr: bool = False,
) -> list[ExceptionRow]:
    """Return the items waiting for a person (exceptions, failed ones), oldest first.

    Args:
        project: the project.
        robot: only this robot's items.
        now: the current time (timezone-aware), for each item's age.
        show_cpr: show CPR numbers in clear.

    Raises:
        ValueError: ``now`` is naive.

    Example:
        >>> rows = exception_queue(project, now=datetime.now(UTC))  # doctest: +SKIP
        >>> rows[0].reference, rows[0].reason  # doctest: +SKIP
        ('240512-****|NPU02319', 'No patient with CPR 240512-**** in the lab system')
    """
    now = _aware(now, "now")
    items = project.backend.items(robot, states=EXCEPTION_STATES)
    items.sort(key=lambda item: (_ended_at(item), item.id))
    return [
        ExceptionRow(
            item_id=item.id,
            robot=item.robot,
            reference=_shown(item.reference, clear=show_cpr),
            reason=_shown(item.error_message, clear=show_cpr),
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
            _shown(entry.note, clear=show_cpr),
        )
        for entry in backend.history(item_id)
    ]
    audit = [
        AuditRow(
            entry.at, entry.actor, entry.action, _shown(entry.note, clear=show_cpr)
        )
        for entry in sorted(
            backend.audit_log(item_id=item_id), key=lambda e: (e.at, e.id)
        )
    ]
    detail = ItemDetail(
        id=item.id,
        robot=item.robot,
        reference=_shown(item.reference, clear=show_cpr),
        state=item.state,
        attempts=item.attempts,
        claims=item.claims,
        priority=item.priority,
        stages=item.finished_stages,
        created_at=item.created_at,
        started_at=item.started_at,
        finished_at=item.finished_at,
        error_type=item.error_type or "",
        error=_shown(item.error_message, clear=show_cpr),
        payload=_shown_data(item.payload, clear=show_cpr),
        output=_shown_data(item.output, clear=show_cpr),
        run_id=item.run_id,
    )
    artifacts = [_item_artifact(project, item, path) for path in item.artifacts]
    return ItemPage(detail, tuple(history), tuple(audit), tuple(artifacts))


# Public API: the chart ------------------------------------------------------------

_SERIES = (
    ("done", "#2e7d32", "done"),
    ("business_exception", "#b35c00", "business exceptions"),
    ("failed", "#c62828", "failed"),
)


def svg_chart(
    nights: Sequence[NightCounts], *, width: int = 640, height: int = 220
) -> str:
    """Draw items per night as a stacked bar chart: inline SVG, no JavaScript.

    Each night is a ``<g class="night">`` with a ``<title>`` (the tooltip), one
    ``<rect>`` per non-zero outcome (done at the bottom, then business
    exceptions, then failed) and its day of month as a text label. The chart has
    ``role="img"`` and an ``aria-label`` summing the nights up, a legend, and the
    scale's top value.

    Example:
        >>> svg = svg_chart(dashboard(project, now=now).nights)  # doctest: +SKIP
        >>> svg.startswith("<svg")  # doctest: +SKIP
        True
    """
    left, right, top, bottom = 36, 8, 28, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    largest = max((night.total for night in nights), default=0)
    scale = plot_h / largest if largest else 0.0
    slot = plot_w / len(nights) if nights else plot_w
    summary = _chart_summary(nights)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(summary)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="nights-chart" '
        f'font-family="sans-serif">',
        f"<title>{escape(summary)}</title>",
    ]
    x_legend = left
    for _key, colour, label in _SERIES:
        parts.append(
            f'<rect x="{x_legend}" y="6" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x_legend + 14}" y="15" font-size="11">{escape(label)}</text>'
        )
        x_legend += 24 + 7 * len(label)
    baseline = top + plot_h
    parts.append(
        f'<line x1="{left}" y1="{baseline}" x2="{left + plot_w}" y2="{baseline}" '
        f'stroke="#555"/>'
        f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end">'
        f"{largest}</text>"
        f'<text x="{left - 4}" y="{baseline}" font-size="10" text-anchor="end">0</text>'
    )
    for index, night in enumerate(nights):
        x = left + index * slot
        bar_x, bar_w = x + slot * 0.15, slot * 0.7
        parts.append(
            f'<g class="night" data-night="{night.night.isoformat()}">'
            f"<title>{escape(_night_text(night))}</title>"
            f'<rect class="hit" x="{x:.1f}" y="{top}" width="{slot:.1f}" '
            f'height="{plot_h}" fill="transparent"/>'
        )
        y = float(baseline)
        for key, colour, _label in _SERIES:
            value: int = getattr(night, key)
            if not value:
                continue
            bar_h = value * scale
            y -= bar_h
            parts.append(
                f'<rect class="{key}" x="{bar_x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{bar_h:.1f}" fill="{colour}"/>'
            )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{baseline + 14}" font-size="9" '
            f'text-anchor="middle">{night.night.day}</text></g>'
        )
    if not nights:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            f'text-anchor="middle" font-size="12">No nights to show</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# Private API: runs ----------------------------------------------------------------


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _last_night_start(now: datetime) -> datetime:
    """12:00 local time on the day before ``now``'s local date, in UTC."""
    day = now.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    return datetime.combine(day, time(12), tzinfo=LOCAL_TZ).astimezone(UTC)


def _newest_first(run: Run) -> tuple[float, str]:
    return (-run.started_at.timestamp(), run.id)


def _find_run(project: Project, run_id: str) -> Run:
    if not run_id.strip():
        raise KeyError("no run '': give a run id")
    return project.find_run(run_id)


def _split_workers(runs: Iterable[Run]) -> tuple[list[Run], dict[str, list[Run]]]:
    """Runs that are not a worker of another, and each coordinator's workers."""
    found = list(runs)
    by_id = {run.id: run for run in found}
    top: list[Run] = []
    workers: dict[str, list[Run]] = defaultdict(list)
    for run in found:
        match = _WORKER_RUN.fullmatch(run.id)
        parent = by_id.get(match["parent"]) if match else None
        if parent is not None and parent.robot == run.robot:
            workers[parent.id].append(run)
        else:
            top.append(run)
    return top, workers


def _workers_of(project: Project, run: Run) -> list[Run]:
    pattern = re.compile(re.escape(run.id) + r"w\d+")
    found = [
        other
        for other in project.backend.runs(run.robot)
        if pattern.fullmatch(other.id)
    ]
    return sorted(found, key=lambda other: other.id)


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
        note=_shown(run.note, clear=clear),
    )


def _attention_reason(run: RunSummary) -> str | None:
    """Why a run needs a look, in one line; None when it does not."""
    reasons = []
    note = " ".join(run.note.split())
    if run.status is RunStatus.CRASHED:
        reasons.append(f"crashed: {note}" if note else "crashed")
    elif run.status is RunStatus.STOPPED:
        if note == "interrupted":
            reasons.append("interrupted")
        else:
            reasons.append(f"stopped: {note}" if note else "stopped")
    if run.counts.failed:
        reasons.append(_plural(run.counts.failed, "failed item"))
    if run.counts.business_exception:
        reasons.append(_plural(run.counts.business_exception, "business exception"))
    if not reasons:
        return None
    reason = "; ".join(reasons)
    return reason if len(reason) <= _REASON_LIMIT else reason[: _REASON_LIMIT - 1] + "…"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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
        scheduler = Scheduler(project, notifiers=[])
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


# Private API: items, search, files, events -----------------------------------------


def _shown(text: str | None, *, clear: bool) -> str:
    """Text for a page: CPR numbers masked (``240512-****``) unless ``clear``."""
    if not text:
        return ""
    return text if clear else _MASKED.redact(text)


def _shown_data(value: dict[str, Any], *, clear: bool) -> dict[str, Any]:
    """A payload or output for a page: every text masked; password-like keys hidden."""
    shown: dict[str, Any] = (_CLEAR if clear else _MASKED).redact_value(value)
    return shown


def _item_row(item: WorkItem, *, clear: bool) -> ItemRow:
    return ItemRow(
        id=item.id,
        robot=item.robot,
        reference=_shown(item.reference, clear=clear),
        state=item.state,
        attempts=item.attempts,
        error_type=item.error_type or "",
        error=_shown(item.error_message, clear=clear),
        output=_shown_data(item.output, clear=clear),
        finished_at=item.finished_at,
        run_id=item.run_id,
    )


def _ended_at(item: WorkItem) -> datetime:
    return item.finished_at or item.created_at


def _normalised(text: str) -> str:
    """Casefolded, with every CPR number written ``DDMMYY-SSSS``."""
    return CPR_PATTERN.sub(r"\1\2\3-\4", text).casefold()


def _reference_matches(reference: str, search: str, clear: bool) -> bool:
    wanted = search.strip()
    if not wanted:
        return True
    if clear or CPR_PATTERN.search(wanted):
        return _normalised(wanted) in _normalised(reference)
    return wanted.casefold() in _shown(reference, clear=False).casefold()


def _kind(path: PurePosixPath) -> ArtifactKind:
    name = path.name.lower()
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        return "screenshot"
    if name.endswith(".zip"):
        return "trace"
    if name == "report.xlsx":
        return "report"
    if name == "events.jsonl":
        return "log"
    return "file"


def _relative_parts(relative: str) -> tuple[str, ...]:
    """The parts of a safe relative path; refuse absolute paths and ``..``."""
    if not relative or "\x00" in relative:
        raise ValueError("a file of a run needs a relative path")
    windows = PureWindowsPath(relative)
    if relative.startswith(("/", "\\")) or windows.drive or windows.is_absolute():
        raise ValueError(f"{relative!r} is an absolute path; give one inside the run")
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if not parts or ".." in parts:
        raise ValueError(f"{relative!r} leads outside the run folder")
    return parts


def _run_files(
    folder: Path, logs: Path, run_id: str, items: Sequence[WorkItem]
) -> list[Artifact]:
    """The files of a run folder worth showing, each tied to its item if recorded."""
    if not folder.is_dir():
        return []
    owners: dict[str, int] = {}
    for item in items:
        for recorded in item.artifacts:
            owners[recorded] = item.id
    root = folder.resolve()
    prefix = folder.relative_to(logs).as_posix() if folder.is_relative_to(logs) else ""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        kind = _kind(relative)
        if kind == "file" or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            continue  # a link out of the folder: run_file would refuse it
        found.append(
            Artifact(run_id, str(relative), kind, owners.get(f"{prefix}/{relative}"))
        )
    return found


def _item_artifact(project: Project, item: WorkItem, recorded: str) -> Artifact:
    """An item's artifact, recorded relative to the logs folder: ``robot/run/file``."""
    parts = PurePosixPath(recorded).parts
    if len(parts) < 3 or parts[0] != item.robot or ".." in parts:
        return Artifact(None, recorded, _kind(PurePosixPath(recorded)), item.id, False)
    run_id, relative = parts[1], "/".join(parts[2:])
    path = project.settings.logs.joinpath(*parts)
    return Artifact(
        run_id, relative, _kind(PurePosixPath(relative)), item.id, path.is_file()
    )


def _timeline(
    path: Path, *, show_cpr: bool, include_debug: bool
) -> list[TimelineEvent]:
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
                event=_shown(str(event.get("event", "")), clear=show_cpr),
                item=_shown(_text(event.get("item", "")), clear=show_cpr),
                item_id=item_id if isinstance(item_id, int) else None,
                step=_shown(_text(event.get("step", "")), clear=show_cpr),
                text=_shown(_fields_text(event), clear=show_cpr),
                exception=_shown(_text(event.get("exception", "")), clear=show_cpr),
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


def _night_text(night: NightCounts) -> str:
    business = _plural(night.business_exception, "business exception")
    return (
        f"Night {night.label} {night.night.year}: {night.done} done, {business}, "
        f"{night.failed} failed"
    )


def _chart_summary(nights: Sequence[NightCounts]) -> str:
    if not nights:
        return "Items per night: no nights to show"
    done = sum(night.done for night in nights)
    business = sum(night.business_exception for night in nights)
    failed = sum(night.failed for night in nights)
    last = nights[-1]
    return (
        f"Items per night, {len(nights)} nights from {nights[0].label} to "
        f"{last.label}: {done} done, {_plural(business, 'business exception')}, "
        f"{failed} failed in all; the latest night {last.done} done, "
        f"{_plural(last.business_exception, 'business exception')}, "
        f"{last.failed} failed"
    )
