"""Schedule files: which robot runs when, read from a project's ``schedules/*.toml``.

One file may hold several jobs, each a ``[jobs.<name>]`` table::

    [jobs.lab_results_nightly]
    robot = "lab_results"
    cron = "0 2 * * *"          # minute hour day month day-of-week
    description = "Register the day's lab results."
    input = "inputs/lab_*.json"  # a file or glob, relative to the project
    calendar = { weekdays_only = true, skip_holidays = true }

A job has either ``cron`` (5 fields, read in the job's ``timezone``) or
``interval_minutes``. Fire times are computed by APScheduler 3's triggers, then two
rules of ours apply (see :meth:`Job.accepts`):

- The job's :class:`Calendar` may skip days: Danish public holidays, Saturdays and
  Sundays, explicit dates. A day is judged by the local date the run starts on.
- A cron job runs once per wall-clock time. When the clocks go back (last Sunday of
  October in Europe/Copenhagen) 02:30 happens twice; APScheduler 3 would fire at
  both, we keep only the first. When the clocks go forward (last Sunday of March)
  02:30 does not exist; APScheduler 3 fires at the instant that wall time would
  have been, 03:30 summer time, once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import (  # type: ignore[import-untyped]
    IntervalTrigger,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from robotlib.discovery import Problem
from robotlib.locales import HOSPITAL_TIME_ZONE
from robotlib.validation import field_problem, field_problems

__all__ = [
    "DEFAULT_TIMEZONE",
    "MAX_CANDIDATES",
    "Calendar",
    "CalendarTrigger",
    "DeadlineTrigger",
    "Job",
    "OffsetTrigger",
    "check_schedules",
    "load_schedules",
    "next_fire_times",
]

DEFAULT_TIMEZONE = HOSPITAL_TIME_ZONE
#: :func:`next_fire_times` gives up after this many fire times the calendar skipped.
MAX_CANDIDATES = 10_000
#: Days most Danish workplaces close although they are not public holidays
#: (24 and 31 December); skipped with ``skip_holidays`` too. Grundlovsdag (5 June)
#: is not among them: add it to ``skip_dates`` where needed.
CLOSED_DAYS = ((12, 24), (12, 31))

_RESERVED = ("name", "file", "line")
_DAY_NUMBER = re.compile(r"\d")


class Calendar(BaseModel):
    """Which days a job may run on; the default allows every day.

    Example:
        >>> Calendar(weekdays_only=True).allows(date(2026, 3, 28))  # a Saturday
        False
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    skip_holidays: bool = Field(
        default=False,
        description="Skip Danish public holidays (holidays.country_holidays('DK')) "
        "and 24 and 31 December.",
    )
    weekdays_only: bool = Field(default=False, description="Skip Saturday and Sunday.")
    skip_dates: list[date] = Field(
        default_factory=list, description="More days to skip, e.g. 2026-06-05."
    )

    def allows(self, day: date) -> bool:
        """Whether a run starting on ``day`` (a local date) may go ahead."""
        if self.weekdays_only and day.weekday() >= 5:
            return False
        if day in self.skip_dates:
            return False
        return not (self.skip_holidays and _is_danish_holiday(day))


class Job(BaseModel):
    """One scheduled job: a robot, when it runs, and with what.

    ``name``, ``file`` and ``line`` come from where the job is declared.

    Example:
        >>> Job(name="nightly", file=Path("s.toml"), robot="lab", cron="0 2 * * *").cron
        '0 2 * * *'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    file: Path
    line: int | None = None
    robot: str = Field(description="The name of the robot to run.")
    cron: str | None = Field(default=None, description="5 cron fields, local time.")
    interval_minutes: float | None = Field(
        default=None, gt=0, description="Run every so many minutes (0.5 = 30 s)."
    )
    timezone: str = Field(default=DEFAULT_TIMEZONE, description="An IANA time zone.")
    calendar: Calendar = Field(default_factory=Calendar)
    misfire_grace_s: int = Field(
        default=3600, ge=1, description="A run late by more than this is skipped."
    )
    coalesce: bool = Field(default=True, description="Run missed runs only once.")
    max_run_time_minutes: float | None = Field(
        default=None,
        gt=0,
        description="Stop a run still going after this long (SIGTERM, then kill).",
    )
    input: str | None = Field(
        default=None, description="An input file or glob, relative to the project."
    )
    watch: bool = Field(
        default=False,
        description="Watch the input glob as a folder: each firing runs once per "
        "file there (none there: nothing to record); a file loaded moves to "
        "processed/<date>/ beside it, one refused to rejected/ with the reason.",
    )
    workers: int = Field(default=1, ge=1)
    enabled: bool = True
    description: str = ""
    preflight_minutes_before: float | None = Field(
        default=None,
        gt=0,
        description="Run the robot's preflight this long before each run; a "
        "failure is sent to the notifiers.",
    )
    deadline: time | None = Field(
        default=None,
        description="Local wall-clock time the run must have completed by, e.g. "
        "'06:30'; if not, the notifiers are told.",
    )
    business_exception_threshold: int | None = Field(
        default=None,
        ge=0,
        description="A run with more business exceptions than this needs attention; "
        "default: notify.business_exception_threshold of rpa.toml.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as "
                f"{DEFAULT_TIMEZONE!r}"
            ) from None
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(
                f"cron {value!r} has {len(fields)} field(s); use 5: minute hour "
                "day month day-of-week, e.g. '0 2 * * *'"
            )
        if _DAY_NUMBER.search(fields[4]):
            raise ValueError(
                f"cron {value!r}: write the day-of-week field with names "
                "(mon-fri, sat,sun): APScheduler 3 counts days from Monday = 0, "
                "cron from Sunday = 0"
            )
        try:
            CronTrigger.from_crontab(value, timezone=ZoneInfo(DEFAULT_TIMEZONE))
        except ValueError as exc:
            raise ValueError(f"invalid cron {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> Self:
        if (self.cron is None) == (self.interval_minutes is None):
            raise ValueError("give exactly one of cron and interval_minutes")
        if self.deadline is not None and self.cron is None:
            raise ValueError("a deadline needs a cron schedule (a time of day)")
        if self.watch and self.input is None:
            raise ValueError("watch needs an input glob, e.g. input = 'inbox/*.xlsx'")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The job's time zone."""
        return ZoneInfo(self.timezone)

    def trigger(self, *, start: datetime | None = None) -> CalendarTrigger:
        """The APScheduler 3 trigger of the runs; an interval counts from ``start``.

        It gives only the fire times :meth:`accepts` allows.
        """
        inner: Any
        if self.cron is not None:
            inner = CronTrigger.from_crontab(self.cron, timezone=self.zone)
        else:
            inner = IntervalTrigger(
                seconds=round((self.interval_minutes or 0) * 60, 3),
                start_date=start,
                timezone=self.zone,
            )
        return CalendarTrigger(
            inner,
            self.calendar,
            self.timezone,
            once_per_wall_time=self.cron is not None,
        )

    def preflight_trigger(self, *, start: datetime | None = None) -> OffsetTrigger:
        """Fires ``preflight_minutes_before`` ahead of each run."""
        minutes = self.preflight_minutes_before or 0
        return OffsetTrigger(self.trigger(start=start), timedelta(minutes=minutes))

    def deadline_trigger(self) -> DeadlineTrigger:
        """Fires at the ``deadline`` after each run's fire time."""
        if self.deadline is None:
            raise ValueError(f"job {self.name!r} has no deadline")
        return DeadlineTrigger(self.trigger(), self.deadline, self.timezone)

    def local(self, moment: datetime) -> datetime:
        """A moment in the job's time zone, normalised through UTC.

        A nonexistent wall time such as 02:30 on the spring-forward day comes back
        as the instant it stands for: 03:30 summer time.
        """
        return moment.astimezone(UTC).astimezone(self.zone)

    def accepts(self, fire_time: datetime) -> bool:
        """Whether the job runs at a fire time its trigger gave.

        No when the calendar skips the day, or when a cron job's wall-clock time
        happens for the second time as the clocks go back.
        """
        return self.trigger().accepts(fire_time)


class CalendarTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler 3 trigger that skips the fire times a calendar does not allow.

    It wraps a cron or interval trigger. It is pickled into the scheduler's job
    store, so it keeps plain data only.
    """

    def __init__(
        self,
        inner: Any,
        calendar: Calendar,
        timezone: str,
        *,
        once_per_wall_time: bool,
    ) -> None:
        self.inner = inner
        self.calendar = calendar.model_dump(mode="json")
        self.timezone = timezone
        self.once_per_wall_time = once_per_wall_time

    def accepts(self, fire_time: datetime) -> bool:
        """Whether the calendar allows ``fire_time`` (see :meth:`Job.accepts`)."""
        local = fire_time.astimezone(UTC).astimezone(ZoneInfo(self.timezone))
        if self.once_per_wall_time and local.fold == 1 and _is_ambiguous(local):
            return False
        return Calendar.model_validate(self.calendar).allows(local.date())

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The inner trigger's next fire time that the calendar allows."""
        for _ in range(MAX_CANDIDATES):
            candidate: datetime | None = self.inner.get_next_fire_time(
                previous_fire_time, now
            )
            if candidate is None:
                return None
            if self.accepts(candidate):
                return candidate
            previous_fire_time = now = candidate
        return None

    def __str__(self) -> str:
        return f"calendar[{self.inner}]"


class OffsetTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires a fixed time before each fire time of another trigger (preflights)."""

    def __init__(self, inner: Any, offset: timedelta) -> None:
        self.inner = inner
        self.offset = offset

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The inner trigger's next fire time after ``now + offset``, minus offset."""
        previous = previous_fire_time + self.offset if previous_fire_time else None
        main: datetime | None = self.inner.get_next_fire_time(
            previous, now + self.offset
        )
        return None if main is None else main - self.offset

    def __str__(self) -> str:
        return f"{self.offset} before [{self.inner}]"


class DeadlineTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires at the first ``deadline`` wall-clock time after each inner fire time."""

    def __init__(self, inner: Any, deadline: time, timezone: str) -> None:
        self.inner = inner
        self.deadline = deadline
        self.timezone = timezone

    def deadline_after(self, fire_time: datetime) -> datetime:
        """The deadline of a run that fired at ``fire_time``."""
        zone = ZoneInfo(self.timezone)
        local = fire_time.astimezone(UTC).astimezone(zone)
        day = local.date()
        for _ in range(2):
            moment = datetime.combine(day, self.deadline, tzinfo=zone)
            moment = moment.astimezone(UTC).astimezone(zone)
            if moment > local:
                return moment
            day += timedelta(days=1)
        return moment

    def run_for(self, deadline: datetime) -> datetime | None:
        """The latest inner fire time whose deadline is at or before ``deadline``."""
        found: datetime | None = None
        previous: datetime | None = None
        now = deadline - timedelta(days=2)
        for _ in range(MAX_CANDIDATES):
            candidate: datetime | None = self.inner.get_next_fire_time(previous, now)
            if candidate is None or self.deadline_after(candidate) > deadline:
                return found
            found = previous = now = candidate
        return found

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The earliest deadline at or after ``now`` (after the previous one)."""
        previous: datetime | None = None
        start = now - timedelta(days=2)
        for _ in range(MAX_CANDIDATES):
            fire: datetime | None = self.inner.get_next_fire_time(previous, start)
            if fire is None:
                return None
            deadline = self.deadline_after(fire)
            later = previous_fire_time is None or deadline > previous_fire_time
            if deadline >= now and later:
                return deadline
            previous = start = fire
        return None

    def __str__(self) -> str:
        return f"deadline {self.deadline} after [{self.inner}]"


def next_fire_times(job: Job, *, after: datetime, count: int) -> list[datetime]:
    """The job's next ``count`` run times strictly after ``after``.

    Times are in the job's time zone, normalised (a nonexistent 02:30 comes back as
    03:30+02:00). An interval job counts its intervals from ``after``. Fewer times
    come back when the trigger ends or :data:`MAX_CANDIDATES` were skipped.

    Example:
        >>> job = Job(name="j", file=Path("s.toml"), robot="r", cron="0 2 * * *")
        >>> start = datetime(2026, 3, 27, 12, tzinfo=job.zone)
        >>> [t.isoformat() for t in next_fire_times(job, after=start, count=1)]
        ['2026-03-28T02:00:00+01:00']
    """
    after = job.local(after)
    trigger = job.trigger(start=after)
    found: list[datetime] = []
    previous: datetime | None = None
    now = after
    while len(found) < count:
        candidate = trigger.get_next_fire_time(previous, now)
        if candidate is None:
            break
        previous = now = candidate
        local = job.local(candidate)
        if local > after:
            found.append(local)
    return found


def load_schedules(folder: Path) -> tuple[list[Job], list[Problem]]:
    """Read every ``*.toml`` in ``folder``: the valid jobs, and the problems found.

    A missing folder holds no jobs. Job names are unique across files.
    """
    jobs: list[Job] = []
    problems: list[Problem] = []
    if not folder.is_dir():
        return jobs, problems
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.toml")):
        found, file_problems = _load_file(path)
        problems.extend(file_problems)
        for job in found:
            if job.name in seen:
                problems.append(
                    Problem(
                        path,
                        job.line,
                        f"job {job.name!r}: the name is used by {seen[job.name]}",
                    )
                )
                continue
            seen[job.name] = path
            jobs.append(job)
    return jobs, problems


def check_schedules(jobs: Iterable[Job], robot_names: Iterable[str]) -> list[Problem]:
    """The jobs that name a robot the project does not have."""
    known = sorted(set(robot_names))
    shown = ", ".join(known) or "none"
    return [
        Problem(
            job.file,
            _key_line(job.file, job.name, "robot") or job.line,
            f"job {job.name!r}: unknown robot {job.robot!r} (robots: {shown})",
        )
        for job in jobs
        if job.robot not in known
    ]


# Private API


def _load_file(path: Path) -> tuple[list[Job], list[Problem]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        return [], [Problem(path, line, f"invalid TOML: {exc}")]
    unknown = sorted(set(data) - {"jobs"})
    problems = [
        Problem(path, None, f"unknown table or key {key!r}; jobs go in [jobs.<name>]")
        for key in unknown
    ]
    tables = data.get("jobs", {})
    if not isinstance(tables, dict) or not tables:
        problems.append(Problem(path, None, "no [jobs.<name>] tables"))
        return [], problems
    jobs: list[Job] = []
    for name, table in tables.items():
        line = _key_line(path, name)
        if not isinstance(table, dict):
            problems.append(Problem(path, line, f"job {name!r}: not a table"))
            continue
        reserved = [key for key in _RESERVED if key in table]
        if reserved:
            message = f"job {name!r}: unknown field {reserved[0]!r}"
            problems.append(Problem(path, line, message))
            continue
        try:
            jobs.append(Job(**table, name=name, file=path, line=line))
        except ValidationError as exc:
            problems.extend(_validation_problems(exc, path, name, line))
    return jobs, problems


def _validation_problems(
    exc: ValidationError, path: Path, name: str, line: int | None
) -> list[Problem]:
    problems = []
    for loc, message in field_problems(exc):
        where = (_key_line(path, name, loc[0]) if loc else None) or line
        text = field_problem(loc, message)
        problems.append(Problem(path, where, f"job {name!r}: {text}"))
    return problems


def _key_line(path: Path, name: str, key: str | None = None) -> int | None:
    """The line of ``[jobs.<name>]``, or of ``key = ...`` inside that table."""
    header = re.compile(rf"""^\s*\[\s*jobs\s*\.\s*["']?{re.escape(name)}["']?\s*\]""")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for number, text in enumerate(lines, 1):
        if not header.match(text):
            continue
        if key is None:
            return number
        assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for offset, inner in enumerate(lines[number:], number + 1):
            if inner.lstrip().startswith("["):
                return None
            if assignment.match(inner):
                return offset
        return None
    return None


@cache
def _danish_holidays(year: int) -> frozenset[date]:
    public = holidays.country_holidays("DK", years=year)
    return frozenset(public) | {date(year, m, d) for m, d in CLOSED_DAYS}


def _is_danish_holiday(day: date) -> bool:
    return day in _danish_holidays(day.year)


def _is_ambiguous(local: datetime) -> bool:
    """Whether a local wall-clock time happens twice (the clocks went back)."""
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()
