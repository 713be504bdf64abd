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
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
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

from robotlib.loader import Problem

__all__ = [
    "DEFAULT_TIMEZONE",
    "MAX_CANDIDATES",
    "Calendar",
    "Job",
    "check_schedules",
    "load_schedules",
    "next_fire_times",
]

DEFAULT_TIMEZONE = "Europe/Copenhagen"
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
    interval_minutes: int | None = Field(default=None, ge=1)
    timezone: str = Field(default=DEFAULT_TIMEZONE, description="An IANA time zone.")
    calendar: Calendar = Field(default_factory=Calendar)
    misfire_grace_s: int = Field(
        default=3600, ge=1, description="A run late by more than this is skipped."
    )
    coalesce: bool = Field(default=True, description="Run missed runs only once.")
    max_run_time_minutes: int | None = Field(default=None, ge=1)
    input: str | None = Field(
        default=None, description="An input file or glob, relative to the project."
    )
    workers: int = Field(default=1, ge=1)
    enabled: bool = True
    description: str = ""

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
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The job's time zone."""
        return ZoneInfo(self.timezone)

    def trigger(self, *, start: datetime | None = None) -> Any:
        """The APScheduler 3 trigger; an interval counts from ``start``."""
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=self.zone)
        return IntervalTrigger(
            minutes=self.interval_minutes, start_date=start, timezone=self.zone
        )

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
        local = self.local(fire_time)
        if self.cron is not None and local.fold == 1 and _is_ambiguous(local):
            return False
        return self.calendar.allows(local.date())


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
    for _ in range(MAX_CANDIDATES):
        if len(found) == count:
            break
        candidate: datetime | None = trigger.get_next_fire_time(previous, now)
        if candidate is None:
            break
        previous = now = candidate
        local = job.local(candidate)
        if local > after and job.accepts(local):
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
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        field = ".".join(loc)
        text = f"{field}: {message}" if field else message
        where = (_key_line(path, name, loc[0]) if loc else None) or line
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
