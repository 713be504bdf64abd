"""Robot declarations: what a robot works on and how it handles one item.

A robot is a module in ``robots/`` holding one :class:`Robot`. The functions are plain
Python; the declaration at the bottom is data, validated when the module is imported:

```python
# robots/lab_results.py
from pydantic import BaseModel
from robotlib import BusinessRuleError, Context, RetryPolicy, Robot, Stage


class LabResult(BaseModel):
    cpr: str
    code: str
    value: float


def read_export(input_file):            # where items come from: rows as dicts
    ...


def open_epj(ctx: Context) -> None:       # setup: open applications, log in
    ctx.state["epj"] = ...


def register_result(ctx: Context, item: LabResult) -> dict:
    ...                                   # raise BusinessRuleError("...") for bad data
    return {"registration_id": 123}       # merged into the item's output


def already_registered(ctx: Context, item: LabResult) -> dict | None:
    ...                                   # precheck: the output if already done


def read_back(ctx: Context, item: LabResult, output: dict) -> None:
    ...                                   # verify: raise if the record differs


def check_pages(ctx: Context) -> None:
    ...                                   # preflight: open the pages, change nothing;
                                          # raise if a page or field is missing


robot = Robot(
    name="lab_results",
    description="Registers lab results from the instrument export in EPJ.",
    item=LabResult,
    source=read_export,
    reference=["cpr", "code"],
    setup=open_epj,
    process=[Stage("register result", register_result)],
    precheck=already_registered,
    verify=read_back,
    preflight=check_pages,
    retry=RetryPolicy(attempts=3, backoff_s=(5, 30)),
    stop_after_system_errors=5,
)
```

The engine runs it as UiPath's REFramework does: *init* (``setup``), *get
transaction data* (claim the next item), *process* (the stages, then ``verify``),
*end* (``teardown``). ``rpa preflight lab_results`` runs ``setup``, ``preflight``
and ``teardown`` only: a check, before a night batch, that the robot can still log
in and find its pages.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from robotlib.context import Application, Context
from robotlib.queue.models import Handoff, NewItem

__all__ = [
    "ApplicationSpec",
    "RetryPolicy",
    "Robot",
    "Row",
    "RowError",
    "Source",
    "SourceRow",
    "Stage",
]

_NAME = re.compile(r"[a-z][a-z0-9_]*")

#: The item model of a robot: its stages, precheck and verify take one.
ItemT = TypeVar("ItemT", bound=BaseModel)
#: A function of the run: setup, teardown, a preflight check, finish.
RunHook = Callable[["Context"], object]


@runtime_checkable
class ApplicationSpec(Protocol):
    """What a robot declares it works in (``Robot(browser=BrowserOptions(...))``).

    The engine opens it before setup, as the first thing of every application
    start, and closes it with the robot's other applications.
    """

    def open(self, ctx: Context) -> Application:
        """Open the application (log in if the robot says so) and register it."""
        ...


@dataclass(frozen=True)
class RowError:
    """An input row that could not be read; it becomes a business exception.

    Sources yield it instead of a row so that a bad row is accounted for and the
    other rows go on.

    Attributes:
        location: where the row is, e.g. ``"results.xlsx, sheet 'Ark1', row 12"``.
        message: what is wrong, for the operator.
        reference: the reference to file it under; default: the location.
    """

    location: str
    message: str
    reference: str | None = None


@dataclass(frozen=True)
class Row:
    """An input row with where it came from, so that errors can name the place.

    Attributes:
        values: the row's values by field name (validated into the item model), or
            an item model instance a source has validated already.
        location: e.g. ``"results.xlsx, sheet 'Ark1', row 12"``.
    """

    values: Mapping[str, Any] | BaseModel
    location: str


#: What a source yields: a row (a plain mapping, or a :class:`Row` that knows where
#: it came from), or a :class:`RowError` for a row that could not be read.
SourceRow = Mapping[str, Any] | Row | RowError
#: Where items come from: called with the ``--input`` path (or None).
Source = Callable[[Path | None], Iterable[SourceRow]]


@dataclass(frozen=True)
class Stage(Generic[ItemT]):
    """A named part of ``process``; a retry resumes after the last finished stage.

    Args:
        name: shown in logs and stored on the item, e.g. ``"register result"``.
        run: ``run(ctx, item) -> dict | None``; the dict is merged into the output.
    """

    name: str
    run: Callable[[Context, ItemT], Mapping[str, Any] | None]


class RetryPolicy(BaseModel):
    """How often an item is tried after system exceptions, and how long to wait.

    Args:
        attempts: attempts in all (1 = never retried).
        backoff_s: seconds before the 2nd, 3rd, … attempt; the last value repeats.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=3, ge=1, le=100)
    backoff_s: tuple[float, ...] = Field(default=(5.0, 30.0))

    @field_validator("backoff_s")
    @classmethod
    def _non_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(seconds < 0 for seconds in value):
            raise ValueError("backoff times cannot be negative")
        return value

    def delay_after(self, attempt: int) -> timedelta | None:
        """Return the wait before the next attempt, or None when none is left."""
        if attempt >= self.attempts:
            return None
        if not self.backoff_s:
            return timedelta(0)
        return timedelta(seconds=self.backoff_s[min(attempt, len(self.backoff_s)) - 1])


class Robot(BaseModel, Generic[ItemT]):
    """A robot: its items, their source, and the functions that process them.

    ``Robot`` is generic in its item model, so mypy checks each stage, precheck and
    verify against ``item``: a stage written for another model is a type error.

    Args:
        name: lowercase identifier, unique in the project (``lab_results``).
        description: one sentence for people; default: the first paragraph of the
            module's docstring.
        item: the pydantic model of one work item.
        source: ``source(input_path) -> rows``; the engine validates each row.
        reference: the item fields that together identify it (unique per robot), or
            a function ``reference(item) -> str``.
        browser: the browser the robot works in (``browser.BrowserOptions(...)``):
            opened before setup at every start of the applications, logged in when
            ``login`` is given; stages get it with ``browser.session(ctx)``.
        login: the credentials system to log in to the browser with (its ``url`` is
            the browser's base URL unless the options name one).
        setup: ``setup(ctx)``; opens applications and logs in. Run again after a
            system exception (the application restart).
        process: ``process(ctx, item)`` or a list of them (each a :class:`Stage`, or a
            function named after its stage).
        teardown: ``teardown(ctx)``; closes what setup opened.
        finish: ``finish(ctx)`` once, when the run has processed its items (a
            report of the run); not at restarts. If it raises, the run crashed.
        preflight: ``preflight(ctx)`` or a list of checks, run after ``setup`` by
            ``rpa preflight`` (never in a run): checks that the pages, fields and
            buttons the robot needs are still there, and changes nothing. It
            raises to fail; the message is what the operator reads. The checks of
            ``robotlib.steps.browser`` (``expect_page``, ``expect_columns``) are
            data.
        precheck: ``precheck(ctx, item) -> dict | None`` run before an item that was
            claimed before is processed again; a dict means "already done".
        verify: ``verify(ctx, item, output)``; reads the record back, raises if it
            differs. An item is done only once verified.
        retry: attempts and backoff for system exceptions; default: the project's
            ``[robots] retry`` in rpa.toml, else 3 attempts.
        stop_after_system_errors: stop the run after this many system exceptions in
            a row (0 turns it off); default: the project's, else 5.
        time_limit: stop claiming items after this long.
        lease: how long a claimed item stays leased without a renewal.
        outputs: the output fields reports show.
        not_compared: item fields that say where a row was read from (a folder),
            not what it says: a later row that differs from a queued item only
            in them is the same row (no correction, no conflict).
        priority: ``priority(item) -> int`` when it is enqueued: higher is claimed
            first (default 0).
        not_before: ``not_before(item) -> datetime | None``: not claimed before.
        deadline: ``deadline(item) -> datetime | None``: done by then, or noticed.
            A datetime without a time zone is the project's ``time_zone``. A row
            whose function raises is a business exception saying so.
        outputs_to: work for other robots when an item is done: robot name →
            ``payload(item, output) -> dict | BaseModel | None`` (None: nothing for
            that robot). The new item (its reference the item's) is created in
            the transaction that records the item done: never lost, never twice.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    description: str = ""
    item: type[ItemT]
    source: Source | None = None
    reference: tuple[str, ...] | Callable[[Any], str]
    browser: ApplicationSpec | None = None
    login: str | None = None
    setup: Callable[..., Any] | None = None
    process: tuple[Stage[Any], ...]
    teardown: Callable[..., Any] | None = None
    finish: Callable[..., Any] | None = None
    preflight: tuple[Callable[..., Any], ...] = ()
    precheck: Callable[..., Mapping[str, Any] | None] | None = None
    verify: Callable[..., Any] | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    stop_after_system_errors: int = Field(default=5, ge=0)
    time_limit: timedelta | None = None
    lease: timedelta = timedelta(minutes=5)
    outputs: tuple[str, ...] = ()
    not_compared: tuple[str, ...] = ()
    priority: Callable[[Any], int] | None = None
    not_before: Callable[[Any], datetime | None] | None = None
    deadline: Callable[[Any], datetime | None] | None = None
    outputs_to: Mapping[str, Callable[[Any, dict[str, Any]], Any]] = Field(
        default_factory=dict
    )

    def __init__(
        self,
        *,
        name: str,
        item: type[ItemT],
        process: Callable[[Context, ItemT], Mapping[str, Any] | None]
        | Stage[ItemT]
        | Sequence[Stage[ItemT] | Callable[[Context, ItemT], Mapping[str, Any] | None]],
        reference: str | Sequence[str] | Callable[[ItemT], str],
        source: Source | None = None,
        description: str | None = None,
        browser: ApplicationSpec | None = None,
        login: str | None = None,
        setup: RunHook | None = None,
        teardown: RunHook | None = None,
        finish: RunHook | None = None,
        preflight: RunHook | Sequence[RunHook] | None = None,
        precheck: Callable[[Context, ItemT], Mapping[str, Any] | None] | None = None,
        verify: Callable[[Context, ItemT, dict[str, Any]], object] | None = None,
        retry: RetryPolicy | None = None,
        stop_after_system_errors: int | None = None,
        time_limit: timedelta | None = None,
        lease: timedelta | None = None,
        outputs: Sequence[str] | None = None,
        not_compared: Sequence[str] | None = None,
        priority: Callable[[ItemT], int] | None = None,
        not_before: Callable[[ItemT], datetime | None] | None = None,
        deadline: Callable[[ItemT], datetime | None] | None = None,
        outputs_to: Mapping[
            str, Callable[[ItemT, dict[str, Any]], BaseModel | Mapping[str, Any] | None]
        ]
        | None = None,
    ) -> None:
        given = {key: value for key, value in locals().items() if value is not None}
        given.pop("self")
        given.pop("__class__", None)
        if description is None:
            given["description"] = _docstring_of(sys._getframe(1).f_globals)
        # only what the author gave: model_fields_set tells the project's defaults
        # (rpa.toml [robots]) which fields to fill
        super().__init__(**given)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                "a robot name is lowercase letters, digits and _ and starts with a "
                f"letter, e.g. 'lab_results' (got {value!r})"
            )
        return value

    @field_validator("process", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> tuple[Stage[Any], ...]:
        parts = [value] if callable(value) or isinstance(value, Stage) else value
        if not isinstance(parts, Iterable) or not parts:
            raise ValueError("give process a function, a Stage, or a list of them")
        stages: list[Stage[Any]] = []
        for part in parts:
            if isinstance(part, Stage):
                stages.append(part)
            elif callable(part):
                stages.append(Stage(getattr(part, "__name__", "process"), part))
            else:
                raise ValueError(f"{part!r} is not a function or a Stage")
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")
        return tuple(stages)

    @field_validator("preflight", mode="before")
    @classmethod
    def _checks(cls, value: Any) -> Any:
        return (value,) if callable(value) else value

    @field_validator("reference", mode="before")
    @classmethod
    def _reference(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Robot[ItemT]:
        if isinstance(self.reference, tuple):
            fields = self.item.model_fields
            unknown = [name for name in self.reference if name not in fields]
            if not self.reference or unknown:
                raise ValueError(
                    f"reference fields {unknown or '[]'} are not fields of "
                    f"{self.item.__name__} ({', '.join(fields)})"
                )
        fields = self.item.model_fields
        unknown = [name for name in self.not_compared if name not in fields]
        if unknown:
            raise ValueError(
                f"not_compared fields {unknown} are not fields of "
                f"{self.item.__name__} ({', '.join(fields)})"
            )
        for role, function, arity in self._callables():
            _check_arity(role, function, arity)
        if self.lease < timedelta(seconds=1):
            raise ValueError("the lease must be at least one second")
        if self.login is not None and self.browser is None:
            raise ValueError("login names the system to log in to: give a browser")
        return self

    def _callables(self) -> list[tuple[str, Callable[..., Any], int]]:
        found: list[tuple[str, Callable[..., Any], int]] = [
            (f"stage {stage.name!r}", stage.run, 2) for stage in self.process
        ]
        for role in ("setup", "teardown", "finish"):
            function = getattr(self, role)
            if function is not None:
                found.append((role, function, 1))
        found += [("preflight", check, 1) for check in self.preflight]
        if self.precheck is not None:
            found.append(("precheck", self.precheck, 2))
        if self.verify is not None:
            found.append(("verify", self.verify, 3))
        if self.source is not None:
            found.append(("source", self.source, 1))
        if callable(self.reference):
            found.append(("reference", self.reference, 1))
        return found

    def replace(self, **fields: Any) -> Robot[ItemT]:
        """A copy with ``fields`` replaced, validated as a new declaration.

        Example:
            >>> robot.replace(process=wrapped, stop_after_system_errors=0)
            ... # doctest: +SKIP
        """
        given = {name: getattr(self, name) for name in self.model_fields_set}
        return type(self)(**(given | fields))

    # Used by the engine ------------------------------------------------------------

    def start(self, ctx: Context) -> None:
        """Start the applications: open the declared browser, then run setup."""
        if self.browser is not None:
            self.browser.open(ctx)
        if self.setup is not None:
            self.setup(ctx)

    @property
    def starts_applications(self) -> bool:
        """Whether :meth:`start` does anything."""
        return self.browser is not None or self.setup is not None

    def reference_of(self, item: BaseModel) -> str:
        """Return the item's unique reference: its reference fields joined by ``|``."""
        if callable(self.reference):
            return str(self.reference(item))
        return "|".join(_text(getattr(item, name)) for name in self.reference)

    def timing_of(self, item: BaseModel, zone: tzinfo) -> dict[str, Any]:
        """The item's priority, not-before and deadline, as ``NewItem`` takes them.

        A naive datetime is in ``zone`` (the project's time zone).

        Raises:
            TypeError: a function gave something else than its kind of value.
            Exception: whatever one of the robot's functions raised.
        """
        timing: dict[str, Any] = {}
        if self.priority is not None:
            value = self.priority(item)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"priority must be a whole number, not {value!r}")
            timing["priority"] = value
        for name in ("not_before", "deadline"):
            function = getattr(self, name)
            moment = None if function is None else function(item)
            if moment is None:
                continue
            if not isinstance(moment, datetime):
                raise TypeError(f"{name} must be a datetime or None, not {moment!r}")
            timing[name] = (
                moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
            ).astimezone(UTC)
        return timing

    def handoffs_of(
        self, item: BaseModel, reference: str, output: dict[str, Any]
    ) -> list[Handoff]:
        """The items ``outputs_to`` hands off for a done item (see the class)."""
        found = []
        for robot, payload_of in self.outputs_to.items():
            payload = payload_of(item, output)
            if payload is None:
                continue
            if isinstance(payload, BaseModel):
                payload = payload.model_dump(mode="json")
            found.append(Handoff(robot, NewItem(reference, dict(payload))))
        return found

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The names of the stages, in order."""
        return tuple(stage.name for stage in self.process)


def _docstring_of(module_globals: Mapping[str, Any]) -> str:
    """The first paragraph of a module's docstring, on one line."""
    doc = module_globals.get("__doc__") or ""
    return " ".join(inspect.cleandoc(doc).split("\n\n", 1)[0].split())


def _text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _check_arity(role: str, function: Callable[..., Any], arity: int) -> None:
    """Refuse a function that cannot be called with ``arity`` positional arguments."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*range(arity))
    except TypeError:
        name = getattr(function, "__name__", repr(function))
        raise ValueError(
            f"{role} function {name}{signature} must take {arity} positional "
            f"argument{'s' if arity > 1 else ''}"
        ) from None


def stages_after(robot: Robot[Any], finished: Sequence[str]) -> list[Stage[Any]]:
    """Return the stages still to run, given the names of finished ones."""
    done = set(finished)
    return [stage for stage in robot.process if stage.name not in done]
