"""The records the console's pages show: frozen dataclasses, built by ``_reports``.

Each is a plain value a template renders as it is. Times are UTC-aware datetimes;
text that may hold CPR numbers is masked (``DDMMYY-****``) when the record is
built, unless the page was asked to show them in clear.

- the dashboard: :class:`Dashboard` with :class:`RobotLastRun`,
  :class:`AttentionRun`, :class:`ExceptionCounts`, :class:`NightCounts` and
  :class:`NextRun`; a run's counts are :class:`OutcomeCounts` in a
  :class:`RunSummary`;
- a run: :class:`RunPage` with :class:`ItemRow`, :class:`TimelineEvent` and
  :class:`Artifact`;
- the exception queue: :class:`ExceptionRow`;
- an item: :class:`ItemPage` with :class:`ItemDetail`, :class:`HistoryRow` and
  :class:`AuditRow`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from robotlib.queue.models import ItemState, Outcome, RunStatus
from robotlib.versions import CodeVersion

__all__ = [
    "Artifact",
    "ArtifactKind",
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
]

#: What a file of a run folder is, as the pages group them.
ArtifactKind = Literal["screenshot", "trace", "report", "log", "file"]


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
            done=counts.get(Outcome.DONE, 0),
            business_exception=counts.get(Outcome.BUSINESS_EXCEPTION, 0),
            failed=counts.get(Outcome.FAILED, 0),
            retried=counts.get(Outcome.RETRIED, 0),
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
    code: CodeVersion


@dataclass(frozen=True, slots=True)
class RobotLastRun:
    """A robot's run to review: last night's, else (``last_night`` False) its latest."""

    robot: str
    run: RunSummary
    last_night: bool


@dataclass(frozen=True, slots=True)
class AttentionRun:
    """A run that needs a look, and why, in one line.

    ``open_failed`` and ``open_business`` count the run's items that wait for a
    person *now* (their current state), so the entry clears once they are retried
    or resolved; ``handled`` says who handled the others, e.g. ``("anna resolved
    1", "cli:root retried 2")``.
    """

    run: RunSummary
    reason: str
    open_failed: int = 0
    open_business: int = 0
    handled: tuple[str, ...] = ()

    @property
    def alarm(self) -> bool:
        """Failed items still open, or a run that did not end well: show in red."""
        return self.open_failed > 0 or self.run.status in (
            RunStatus.CRASHED,
            RunStatus.STOPPED,
        )


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
            crashed or have failed items or business exceptions still open (by the
            items' current states), newest first.
        handled: such runs whose items have all been retried or resolved since,
            with who handled them.
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
    handled: tuple[AttentionRun, ...]
    exception_queue: tuple[ExceptionCounts, ...]
    exceptions_total: int
    nights: tuple[NightCounts, ...]
    next_runs: tuple[NextRun, ...]
    schedule_problems: tuple[str, ...]

    @property
    def alarm(self) -> bool:
        """Something needs a person: the page's banner turns red."""
        return any(entry.alarm for entry in self.attention)


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
    not_before: datetime | None = None
    deadline: datetime | None = None
    #: The item that handed this one off, and those this one handed off.
    parent: ItemLink | None = None
    children: tuple[ItemLink, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemLink:
    """Another item an item's page links to: its id, robot and state."""

    id: int
    robot: str
    state: ItemState


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
    #: The code of the run that worked it last (None: no run, or not recorded).
    code: CodeVersion | None = None
