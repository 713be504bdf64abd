"""The transaction loop: load → setup → claim / process / record → teardown.

One engine runs one robot in one worker process. It never loses an item: every item
it claims ends ``done``, ``business_exception`` or ``failed``, goes back to ``new``
for a retry, or (if this worker dies) returns to the queue when its lease expires.

- A :class:`~robotlib.errors.BusinessRuleError` sends the item to the exception
  queue; it is never retried.
- Any other exception is a system exception: the engine saves a screenshot of every
  open application, restarts the applications (teardown, then setup), and retries
  the item within the robot's retry policy. After ``stop_after_system_errors`` in a
  row it stops the run and leaves the rest of the queue untouched.
- A stop request (Ctrl+C, SIGTERM) lets the current item finish its bookkeeping.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from robotlib import _lease
from robotlib._lease import LeaseGuard
from robotlib.context import Context
from robotlib.cpr import mask_cpr_like
from robotlib.errors import (
    BusinessRuleError,
    ConfigurationError,
    LeaseLostError,
    RobotlibError,
)
from robotlib.logs import Redactor, display_masker, run_log
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import (
    EXCEPTION_STATES,
    REJECTED_ERROR_TYPE,
    EnqueueResult,
    ItemState,
    NewItem,
    RunStatus,
    WorkItem,
)
from robotlib.reading import Reading, reading
from robotlib.robot import Robot, Row, RowError, SourceRow, stages_after
from robotlib.settings import Settings
from robotlib.validation import failed_check

__all__ = [
    "EXIT_FAILED_ITEMS",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_STOPPED",
    "DryRunReport",
    "Engine",
    "PreflightResult",
    "RunObserver",
    "RunResult",
    "ended",
    "new_run_id",
    "run_started_at",
]

EXIT_OK = 0
EXIT_STOPPED = 1
EXIT_INVALID = 2
#: The run ran to its end with more failed items than ``failed_item_threshold``.
EXIT_FAILED_ITEMS = 3

#: Outcomes of one claimed item, as counted in a run.
DONE, BUSINESS, RETRY, FAILED = "done", "business_exception", "retried", "failed"

#: The exit code of each way a run can end that is not a stop.
_EXIT_CODES = {
    RunStatus.COMPLETED: EXIT_OK,
    RunStatus.COMPLETED_WITH_FAILURES: EXIT_FAILED_ITEMS,
}


def ended(status: RunStatus, failed: int, settings: Settings) -> tuple[RunStatus, int]:
    """How a run that got to its end is recorded, and its exit code.

    A completed run with more failed items than ``failed_item_threshold`` says so:
    it needs a person. The engine and the ``--workers`` coordinator both decide here.
    """
    if status is RunStatus.COMPLETED and failed > settings.notify.failed_item_threshold:
        status = RunStatus.COMPLETED_WITH_FAILURES
    return status, _EXIT_CODES.get(status, EXIT_STOPPED)


LEASE_LOST = "lease_lost"

log = structlog.get_logger("robotlib.engine")

_RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-z]{1,32}")


class RunObserver(Protocol):
    """Told of a run's progress (the CLI draws a progress bar with it)."""

    def loaded(self, result: EnqueueResult | None, due: int) -> None:
        """The input was loaded; ``due`` items wait in the queue."""

    def item_finished(self, outcome: str) -> None:
        """An item ended with ``outcome`` (done, business_exception, retried, ...)."""


@dataclass(frozen=True)
class RunResult:
    """How a run ended."""

    run_id: str
    robot: str
    status: RunStatus
    run_dir: Path
    counts: dict[str, int]
    loaded: EnqueueResult | None
    note: str = ""
    exit_code: int = EXIT_OK


@dataclass(frozen=True)
class DryRunReport:
    """What a run would do, without doing it."""

    rows: int
    new: list[str]
    existing: list[str]
    invalid: list[tuple[str, str]]
    due_in_queue: int
    #: exception items a row's other values would correct and queue again
    corrected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PreflightResult:
    """How a preflight ended.

    Attributes:
        robot: the robot's name.
        ok: True when setup and the robot's preflight raised nothing.
        message: why it failed, redacted, for the operator (empty when it passed).
        run_dir: the folder of its log and screenshots
            (``logs/<robot>/<run id>-preflight``).
        duration_s: how long it took.
        checked: what ran, e.g. ``"setup and preflight"``.
    """

    robot: str
    ok: bool
    message: str
    run_dir: Path
    duration_s: float
    checked: str


def new_run_id(now: datetime) -> str:
    """Return a run id that sorts by start time: ``20261122T054512Z-3f9a1c``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_started_at(run_id: str) -> datetime | None:
    """Return the start time a run id holds, or None if it is not a run id."""
    try:
        return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class _Loop:
    """What the loop keeps track of in one run."""

    counts: Counter[str] = field(default_factory=Counter)
    claimed: int = 0
    consecutive_system: int = 0


class Engine:
    """Runs one robot against a work queue.

    Args:
        robot: what to run.
        settings: the project's settings (where the logs go).
        backend: the work queue.
        redactor: masks secrets and CPR numbers in stored error messages.
        credentials_loader: called once, when a robot first asks for credentials.
        observer: told of progress.
        stop: set it to stop after the current item (the CLI's signal handler does).
        sleep: waits between retries; tests pass a fake.
        shared: resources the robot's functions find in ``ctx.shared`` (a test's
            browser, say); the engine does not close them.
        input_stable_s: seconds an input file must stay unchanged before it is
            read (a scheduled run passes the project's ``input_stable_s``).
    """

    def __init__(
        self,
        robot: Robot,
        *,
        settings: Settings,
        backend: QueueBackend,
        redactor: Redactor,
        credentials_loader: Callable[[], Any] | None = None,
        observer: RunObserver | None = None,
        stop: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
        shared: Mapping[str, Any] | None = None,
        input_stable_s: float = 0.0,
    ) -> None:
        self.robot = robot
        self.input_stable_s = input_stable_s
        self.shared = dict(shared or {})
        self.settings = settings
        self.backend = backend
        self.redactor = redactor
        self.credentials_loader = credentials_loader
        self.observer = observer
        self.stop = stop or threading.Event()
        self._sleep = sleep or self.stop.wait
        self.host = socket.gethostname()
        self.pid = os.getpid()

    # Public API --------------------------------------------------------------------

    def run(
        self,
        *,
        input_path: Path | None = None,
        limit: int | None = None,
        run_id: str | None = None,
        load: bool = True,
    ) -> RunResult:
        """Load the input, then process items until the queue is empty or a stop.

        Args:
            input_path: the input file for the robot's source (default: the source's
                own default).
            limit: claim at most this many items.
            run_id: the run's id; default a new one. The scheduler chooses it, so
                that it can find the run of a child process it had to kill.
            load: False for a worker: process what is in the queue, load nothing.
        """
        if run_id is not None and not _RUN_ID.fullmatch(run_id):
            raise ConfigurationError(
                f"invalid run id {run_id!r}: expected one like 20261122T054512Z-3f9a1c"
            )
        run_id = run_id or new_run_id(self.backend.clock())
        run_dir = _private_dir(self.settings.logs / self.robot.name / run_id)
        ctx = Context(
            robot=self.robot,
            settings=self.settings,
            run_id=run_id,
            run_dir=run_dir,
            credentials_loader=self.credentials_loader,
            shared=dict(self.shared),
        )
        loop = _Loop()
        loaded: EnqueueResult | None = None
        status, note, exit_code = RunStatus.CRASHED, "", EXIT_STOPPED
        with (
            run_log(run_dir / "events.jsonl"),
            structlog.contextvars.bound_contextvars(
                robot=self.robot.name, run_id=run_id
            ),
        ):
            self.backend.start_run(
                run_id, self.robot.name, host=self.host, pid=self.pid
            )
            log.info("run_started", host=self.host, pid=self.pid, input=str(input_path))
            try:
                if load:
                    loaded = self._load(input_path, run_id, loop)
                recovered = self.backend.recover_expired(self.robot.name)
                if recovered:
                    log.warning("leases_recovered", items=[i.id for i in recovered])
                if self.observer is not None:
                    due = self.backend.counts(self.robot.name)[ItemState.NEW]
                    self.observer.loaded(loaded, due)
                try:
                    status, note = self._loop(ctx, loop, limit)
                finally:
                    for problem in ctx.end_run():
                        log.warning("run_end_callback_failed", error=str(problem))
                status, exit_code = ended(status, loop.counts[FAILED], self.settings)
            except ConfigurationError as exc:
                status, note, exit_code = RunStatus.STOPPED, str(exc), EXIT_INVALID
                log.error("run_invalid", error=str(exc))
            except KeyboardInterrupt:
                status, note = RunStatus.STOPPED, "interrupted"
                log.warning("run_interrupted")
            except Exception as exc:
                note = f"{type(exc).__name__}: {exc}"
                log.exception("run_crashed", error_type=type(exc).__name__)
            finally:
                counts = dict(loop.counts)
                self.backend.finish_run(
                    run_id,
                    status=status,
                    counts=counts,
                    note=self.redactor.masked(note),
                )
                self._write_report(run_id, run_dir)
                log.info("run_finished", status=str(status), counts=counts, note=note)
        return RunResult(
            run_id,
            self.robot.name,
            status,
            run_dir,
            counts,
            loaded,
            self.redactor.redact(note),
            exit_code,
        )

    def _write_report(self, run_id: str, run_dir: Path) -> None:
        """Write report.xlsx in the run folder; a failure is logged, not fatal."""
        from robotlib.steps.reports import write_run_report

        try:
            write_run_report(
                run_dir / "report.xlsx",
                run=self.backend.get_run(run_id),
                items=self.backend.items(self.robot.name, run_id=run_id),
                outputs=self.robot.outputs,
                mask=None
                if self.settings.cpr_in_logs == "clear"
                else display_masker().redact,
            )
        except (OSError, RobotlibError, KeyError, ValueError) as exc:
            log.error("report_failed", error=str(exc))

    def dry_run(self, *, input_path: Path | None = None) -> DryRunReport:
        """Read and validate the input; report what a run would enqueue."""
        with reading(self._reading()):
            located = self._checked_items(self._rows(input_path))
        source = input_path.name if input_path is not None else "the dry run"
        items, corrections = self._against_queue(located, source)
        known = {item.reference for item in self.backend.items(self.robot.name)}
        fresh = [item for item in items if item.reference not in known]
        return DryRunReport(
            rows=len(located),
            corrected=[item.reference for item, _, _ in corrections],
            new=[item.reference for item in fresh if item.rejected is None],
            existing=[item.reference for item in items if item.reference in known],
            invalid=[
                (i.reference, i.rejected) for i in fresh if i.rejected is not None
            ],
            due_in_queue=self.backend.counts(self.robot.name)[ItemState.NEW],
        )

    def preflight(self) -> PreflightResult:
        """Run setup, the robot's preflight and teardown; report whether they passed.

        A check before a batch that the robot can still log in and find the pages
        and fields it needs. It touches no queue: nothing is loaded, claimed or
        recorded as a run. Its log and, when it fails, a screenshot of every open
        application go to ``logs/<robot>/<run id>-preflight``. It never raises: any
        exception (a refused login included) or Ctrl+C is a failed preflight.

        Example:
            >>> result = project.engine("lab_results").preflight()  # doctest: +SKIP
            >>> result.ok, result.message  # doctest: +SKIP
            (False, "login to 'sandbox' as 'robot' was refused: Wrong password.")
        """
        robot = self.robot
        preflight_id = f"{new_run_id(datetime.now(UTC))}-preflight"
        run_dir = _private_dir(self.settings.logs / robot.name / preflight_id)
        ctx = Context(
            robot=robot,
            settings=self.settings,
            run_id=preflight_id,
            run_dir=run_dir,
            credentials_loader=self.credentials_loader,
            shared=dict(self.shared),
        )
        checked = _checked(robot)
        started = time.perf_counter()
        ok, message = False, ""
        with (
            run_log(run_dir / "events.jsonl"),
            structlog.contextvars.bound_contextvars(
                robot=robot.name, run_id=preflight_id
            ),
        ):
            log.info("preflight_started", host=self.host, pid=self.pid, checked=checked)
            try:
                self._preflight_checks(ctx)
                ok = True
            except KeyboardInterrupt:
                message = "interrupted"
                log.warning(
                    "preflight_failed", error_type="KeyboardInterrupt", error=message
                )
            except Exception as exc:
                message = self.redactor.redact(str(exc) or type(exc).__name__)
                log.error(
                    "preflight_failed",
                    error_type=type(exc).__name__,
                    error=message,
                    exc_info=exc,
                )
            duration_s = round(time.perf_counter() - started, 2)
            if ok:
                log.info("preflight_passed", checked=checked, duration_s=duration_s)
        return PreflightResult(robot.name, ok, message, run_dir, duration_s, checked)

    # Private API: preflight --------------------------------------------------------

    def _preflight_checks(self, ctx: Context) -> None:
        """Setup, then preflight; screenshots if either raises; always teardown."""
        try:
            try:
                if self.robot.setup is not None:
                    self.robot.setup(ctx)
                    log.info("setup_finished")
                if self.robot.preflight is not None:
                    self.robot.preflight(ctx)
            except Exception:
                self._save_screenshots(ctx, "preflight")
                raise
            finally:
                self._stop_applications(ctx, reason="preflight ended")
        finally:
            for problem in ctx.end_run():
                log.warning("run_end_callback_failed", error=str(problem))

    # Private API: loading ----------------------------------------------------------

    def _rows(self, input_path: Path | None) -> Iterable[SourceRow]:
        if self.robot.source is None:
            if input_path is not None:
                raise ConfigurationError(
                    f"robot {self.robot.name!r} has no source to read {input_path}"
                )
            return ()
        if input_path is not None and not input_path.exists():
            raise ConfigurationError(f"input file {input_path} does not exist")
        return self.robot.source(input_path)

    def load(self, input_path: Path | None, run_id: str) -> tuple[EnqueueResult, int]:
        """Load the input into the queue, and do nothing else.

        Returns what was enqueued, and how many rows were rejected on the way
        (enqueued as business exceptions). Workers started afterwards
        (:mod:`robotlib.workers`) process the items.
        """
        loop = _Loop()
        result = self._load(input_path, run_id, loop)
        return result, loop.counts[BUSINESS]

    def _reading(self) -> Reading:
        """How the robot's source reads its files, from the project's settings."""
        return Reading(
            locale=self.settings.locale,
            time_zone=self.settings.time_zone,
            stable_for_s=self.input_stable_s,
        )

    def _load(self, input_path: Path | None, run_id: str, loop: _Loop) -> EnqueueResult:
        with reading(self._reading()):
            located = self._checked_items(self._rows(input_path))
        source = input_path.name if input_path is not None else f"run {run_id}"
        items, corrections = self._against_queue(located, source)
        result = self.backend.enqueue(self.robot.name, items, run_id=run_id)
        for queued, correction, location in corrections:
            self._correct(queued, correction, location, source, run_id)
        result = EnqueueResult(result.added, result.existing, len(corrections))
        rejected = sum(1 for item in items if item.rejected is not None)
        log.info(
            "items_loaded",
            rows=len(located),
            added=result.added,
            existing=result.existing,
            corrected=result.corrected,
            invalid=rejected,
        )
        if rejected and result.added:
            new_rejects = self.backend.items(
                self.robot.name, states=[ItemState.BUSINESS_EXCEPTION], run_id=run_id
            )
            if new_rejects:
                loop.counts[BUSINESS] += len(new_rejects)
            for item in new_rejects:
                log.warning(
                    "item_rejected",
                    item=item.reference,
                    item_id=item.id,
                    reason=item.error_message,
                )
        return result

    def _items(self, rows: Iterable[SourceRow]) -> list[NewItem]:
        """The rows as items; a row repeating an earlier row's reference with other
        values is rejected: which of the two is right is for a person to say.

        Only rows of the same input are compared: a payload may hold where its
        input was (document_filing's folder), so an item queued by an earlier load
        can differ from the same row loaded from elsewhere.
        """
        return [item for item, _ in self._checked_items(rows)]

    def _checked_items(self, rows: Iterable[SourceRow]) -> list[tuple[NewItem, str]]:
        """:meth:`_items`, each item with where its row is."""
        seen: dict[str, tuple[dict[str, Any], str]] = {}
        items = []
        for item, location in self._located_items(rows):
            if item.rejected is None:
                other = seen.get(item.reference)
                if other is not None and _differences(
                    other[0], item.payload, self.robot.not_compared
                ):
                    items.append((self._conflict(item, location, *other), location))
                    continue
                seen.setdefault(item.reference, (item.payload, location))
            items.append((item, location))
        return items

    def _against_queue(
        self, located: list[tuple[NewItem, str]], source: str
    ) -> tuple[list[NewItem], list[tuple[WorkItem, NewItem, str]]]:
        """The items to enqueue, and the corrections of known items to make.

        A valid row whose reference is known with other values corrects an item
        that ended an exception (a rejected row is corrected by any valid one);
        for a ``done`` item it becomes a business exception of its own: the
        target system holds the old values. Other states keep the queued values
        (a ``new`` item may have been worked on before); the difference is logged.
        """
        references = {item.reference for item, _ in located}
        known = {
            item.reference: item
            for item in self.backend.items(self.robot.name)
            if item.reference in references
        }
        items: list[NewItem] = []
        corrections: list[tuple[WorkItem, NewItem, str]] = []
        corrected: set[str] = set()
        for item, location in located:
            queued = known.get(item.reference)
            if queued is None or item.rejected is not None:
                items.append(item)
                continue
            changed = _differences(
                queued.payload, item.payload, self.robot.not_compared
            )
            was_rejected = queued.error_type == REJECTED_ERROR_TYPE
            if queued.state in EXCEPTION_STATES and (changed or was_rejected):
                if item.reference not in corrected:
                    corrected.add(item.reference)
                    corrections.append((queued, item, location))
                continue
            if changed and queued.state == ItemState.DONE:
                items.append(self._done_conflict(item, location, queued, source))
                continue
            if changed:
                log.warning(
                    "item_differs_in_queue",
                    item=item.reference,
                    item_id=queued.id,
                    state=str(queued.state),
                    fields=[name for name, _, _ in changed],
                )
            items.append(item)
        return items, corrections

    def _correct(
        self,
        queued: WorkItem,
        item: NewItem,
        location: str,
        source: str,
        run_id: str,
    ) -> None:
        """Give an exception item the values of a later row, to be processed again."""
        changed = _differences(queued.payload, item.payload, self.robot.not_compared)
        if queued.error_type == REJECTED_ERROR_TYPE:
            what = (
                f"rejected at load ({queued.error_message}); "
                f"old values {json.dumps(queued.payload, sort_keys=True, default=str)}"
            )
        else:
            what = ", ".join(
                f"{name} {_shown(theirs)} → {_shown(mine)}"
                for name, mine, theirs in changed
            )
        note = self.redactor.masked(f"corrected by input {source} ({location}): {what}")
        self.backend.correct(
            queued.id,
            payload=item.payload,
            actor=f"input:{source}",
            note=note,
            run_id=run_id,
        )
        log.info(
            "item_corrected",
            item=item.reference,
            item_id=queued.id,
            fields=[name for name, _, _ in changed] or sorted(item.payload),
        )

    def _done_conflict(
        self, item: NewItem, location: str, done: WorkItem, source: str
    ) -> NewItem:
        """A row for a ``done`` item with other values, as a rejected item of its own.

        Its reference holds a digest of the values, so loading the same row again
        adds nothing.
        """
        differences = "; ".join(
            f"{name} {_shown(mine)} here, {_shown(theirs)} there"
            for name, mine, theirs in _differences(
                done.payload, item.payload, self.robot.not_compared
            )
        )
        outputs = self.robot.outputs
        if outputs and done.output.get(outputs[0]) is not None:
            registration = f"{outputs[0]} {done.output[outputs[0]]}"
        else:
            registration = f"item {done.id}"
        message = (
            f"{source}, {location}: already registered as done ({registration}) "
            f"with other values ({differences}): the target system already holds "
            "it; correct it there by hand"
        )
        content = json.dumps(item.payload, sort_keys=True, default=str)
        return NewItem(
            reference=f"{item.reference} #{_digest(content)}",
            payload=item.payload,
            rejected=self.redactor.masked(message),
        )

    def _conflict(
        self, item: NewItem, location: str, other: dict[str, Any], where: str
    ) -> NewItem:
        differences = "; ".join(
            f"{name} {_shown(mine)} here, {_shown(theirs)} there"
            for name, mine, theirs in _differences(
                other, item.payload, self.robot.not_compared
            )
        )
        message = (
            f"{location}: the same reference as {where} but other values "
            f"({differences}): check which is right; this row was not processed"
        )
        content = json.dumps(item.payload, sort_keys=True, default=str)
        return NewItem(
            reference=f"{item.reference} #{_digest(content)}",
            payload=item.payload,
            rejected=self.redactor.masked(message),
        )

    def _located_items(
        self, rows: Iterable[SourceRow]
    ) -> Iterable[tuple[NewItem, str]]:
        for number, row in enumerate(rows, start=1):
            if isinstance(row, RowError):
                yield (
                    NewItem(
                        reference=row.reference
                        or f"{row.location} #{_digest(row.message)}",
                        payload={"location": row.location},
                        rejected=self.redactor.masked(f"{row.location}: {row.message}"),
                    ),
                    row.location,
                )
                continue
            values, location = (
                (row.values, row.location) if isinstance(row, Row) else (row, "")
            )
            location = location or f"row {number}"
            try:
                model = self.robot.item.model_validate(values)
            except Exception as exc:  # one row's error, never the load's
                raw = values if isinstance(values, Mapping) else {}
                message = (
                    _invalid_row(location, exc)
                    if isinstance(exc, ValidationError)
                    else f"{location}: "
                    + failed_check(self.robot.item, raw, exc, {k: k for k in raw})
                )
                yield (
                    NewItem(
                        reference=self._raw_reference(raw, location),
                        payload=to_jsonable_python(dict(raw), fallback=str),
                        rejected=self.redactor.masked(message),
                    ),
                    location,
                )
                continue
            yield (
                NewItem(
                    reference=self.robot.reference_of(model),
                    payload=model.model_dump(mode="json"),
                ),
                location,
            )

    def _raw_reference(self, values: Mapping[str, Any], location: str) -> str:
        """A reference for a row that failed validation, stable across reloads."""
        fields = self.robot.reference
        if isinstance(fields, tuple) and all(values.get(name) for name in fields):
            return "|".join(str(values[name]) for name in fields)
        content = json.dumps(
            to_jsonable_python(dict(values), fallback=str), sort_keys=True
        )
        return f"invalid: {location} #{_digest(content)}"

    # Private API: the loop ---------------------------------------------------------

    def _loop(
        self, ctx: Context, loop: _Loop, limit: int | None
    ) -> tuple[RunStatus, str]:
        robot = self.robot
        deadline = self.backend.clock() + robot.time_limit if robot.time_limit else None
        running = False
        try:
            while True:
                if self.stop.is_set():
                    return RunStatus.STOPPED, "interrupted"
                if limit is not None and loop.claimed >= limit:
                    return RunStatus.COMPLETED, f"limit of {limit} items reached"
                if deadline is not None and self.backend.clock() >= deadline:
                    return RunStatus.STOPPED, "time limit reached"
                if not running:
                    running = self._start_applications(ctx, loop)
                    if self._too_many_system_errors(loop):
                        return RunStatus.STOPPED, self._stop_note(loop)
                    continue
                item = self.backend.claim_next(
                    robot.name,
                    owner=self._owner(ctx),
                    lease=robot.lease,
                    run_id=ctx.run_id,
                )
                if item is None:
                    if self._wait_for_retry(deadline):
                        continue
                    return RunStatus.COMPLETED, ""
                loop.claimed += 1
                outcome = self._process(ctx, item)
                loop.counts[outcome] += 1
                if self.observer is not None:
                    self.observer.item_finished(outcome)
                if outcome in (RETRY, FAILED):
                    loop.consecutive_system += 1
                    self._stop_applications(ctx, reason="system exception")
                    running = False
                    if self._too_many_system_errors(loop):
                        return RunStatus.STOPPED, self._stop_note(loop)
                elif outcome in (DONE, BUSINESS):
                    loop.consecutive_system = 0
        finally:
            if running:
                self._stop_applications(ctx, reason="run ended")

    def _owner(self, ctx: Context) -> str:
        return f"{self.host}:{self.pid}:{ctx.run_id}"

    def _too_many_system_errors(self, loop: _Loop) -> bool:
        limit = self.robot.stop_after_system_errors
        return limit > 0 and loop.consecutive_system >= limit

    def _stop_note(self, loop: _Loop) -> str:
        note = f"stopped after {loop.consecutive_system} system exceptions in a row"
        log.error("run_stopping", reason=note)
        return note

    def _wait_for_retry(self, deadline: datetime | None) -> bool:
        """Wait for the earliest retry due in the queue; False when there is none.

        Any worker's retries count, not only this run's: a worker that died while
        waiting for one leaves it to the others (or to the one replacing it).
        """
        now = self.backend.clock()
        waiting = self.backend.items(self.robot.name, states=[ItemState.NEW])
        retries = [
            item.not_before
            for item in waiting
            if item.attempts > 0 and item.not_before is not None
        ]
        if not retries:
            return False
        due = min(retries)
        if deadline is not None and due >= deadline:
            return False
        seconds = max((due - now).total_seconds(), 0.0)
        log.info("waiting_for_retry", seconds=round(seconds, 1))
        self._sleep(seconds)
        return True

    def _start_applications(self, ctx: Context, loop: _Loop) -> bool:
        """Run setup; a failure counts as a system exception. True when it worked."""
        if self.robot.setup is None:
            return True
        started = time.perf_counter()
        try:
            self.robot.setup(ctx)
        except ConfigurationError:
            # wrong credentials, a missing browser: trying again cannot help (and a
            # refused login tried again locks the account), so the run stops.
            self._stop_applications(ctx, reason="setup found a configuration error")
            raise
        except Exception as exc:
            loop.consecutive_system += 1
            loop.counts["setup_failed"] += 1
            log.exception("setup_failed", error_type=type(exc).__name__, error=str(exc))
            self._save_screenshots(ctx, "setup")
            self._stop_applications(ctx, reason="setup failed")
            delay = self.robot.retry.delay_after(1) or timedelta(0)
            if not self._too_many_system_errors(loop):
                self._sleep(delay.total_seconds())
            return False
        log.info("setup_finished", duration_ms=_ms(started))
        return True

    def _stop_applications(self, ctx: Context, *, reason: str) -> None:
        """Run teardown and close every registered application; never raises."""
        if self.robot.teardown is not None:
            try:
                self.robot.teardown(ctx)
            except Exception as exc:
                log.warning(
                    "teardown_failed", error=str(exc), error_type=type(exc).__name__
                )
        for application in reversed(ctx.applications):
            try:
                application.close()
            except Exception as exc:
                log.warning(
                    "close_failed", application=application.name, error=str(exc)
                )
        ctx.applications.clear()
        ctx.state.clear()
        log.info("applications_stopped", reason=reason)

    # Private API: one item ---------------------------------------------------------

    def _process(self, ctx: Context, item: WorkItem) -> str:
        owner = self._owner(ctx)
        ctx.item, ctx.output = item, dict(item.output)
        started = time.perf_counter()
        guard = LeaseGuard(self.backend, item.id, owner, self.robot.lease)
        with (
            structlog.contextvars.bound_contextvars(
                item=item.reference, item_id=item.id, attempt=item.attempts
            ),
            _lease.guarding(guard),
            _LeaseKeeper(guard),
        ):
            log.info("item_started", claims=item.claims)
            _notify(ctx, "item_started", item)
            try:
                outcome = self._run_stages(ctx, item, owner, started)
                _notify(ctx, "item_finished", True)
                return outcome
            except BusinessRuleError as exc:
                if _lease_lost(guard):
                    return LEASE_LOST
                _notify(ctx, "item_finished", True)
                self.backend.business_exception(
                    item.id,
                    owner=owner,
                    error_type=exc.code or type(exc).__name__,
                    message=self.redactor.masked(str(exc)),
                )
                log.warning("item_business_exception", reason=str(exc), code=exc.code)
                return BUSINESS
            except LeaseLostError:
                log.error("item_lease_lost")
                return LEASE_LOST
            except KeyboardInterrupt:
                if not guard.lost:
                    self.backend.release(item.id, owner=owner, note="interrupted")
                    log.warning("item_released", reason="interrupted")
                raise
            except Exception as exc:
                if _lease_lost(guard):
                    return LEASE_LOST
                return self._system_exception(ctx, item, owner, exc)
            finally:
                ctx.item, ctx.output = None, {}

    def _run_stages(
        self, ctx: Context, item: WorkItem, owner: str, started: float
    ) -> str:
        robot = self.robot
        try:
            model = robot.item.model_validate(item.payload)
        except ValidationError as exc:
            raise BusinessRuleError(_invalid_row("the stored item", exc)) from None
        if item.claims > 1 and robot.precheck is not None:
            _lease.check()
            found = robot.precheck(ctx, model)
            if found is not None:
                self.backend.complete(
                    item.id,
                    owner=owner,
                    output=_as_output(found, "precheck"),
                    note="done already (precheck)",
                )
                log.info("item_done", duration_ms=_ms(started), precheck=True)
                return DONE
        staged = len(robot.process) > 1
        for stage in stages_after(robot, item.finished_stages):
            with structlog.contextvars.bound_contextvars(stage=stage.name):
                _lease.check()
                ctx.output.update(_as_output(stage.run(ctx, model), stage.name))
                if staged:
                    self.backend.finish_stage(
                        item.id, owner=owner, stage=stage.name, output=ctx.output
                    )
                    log.info("stage_finished")
        if robot.verify is not None:
            _lease.check()
            robot.verify(ctx, model, ctx.output)
        _lease.check()
        self.backend.complete(item.id, owner=owner, output=ctx.output)
        log.info("item_done", duration_ms=_ms(started))
        return DONE

    def _system_exception(
        self, ctx: Context, item: WorkItem, owner: str, exc: Exception
    ) -> str:
        prefix = f"item-{item.id}-attempt-{item.attempts}"
        artifacts = self._save_screenshots(ctx, prefix)
        artifacts += self._save_traces(ctx, prefix)
        delay = self.robot.retry.delay_after(item.attempts)
        retry_at = self.backend.clock() + delay if delay is not None else None
        message = self.redactor.masked(f"{exc}" or type(exc).__name__)
        self.backend.fail(
            item.id,
            owner=owner,
            error_type=type(exc).__name__,
            message=message,
            retry_at=retry_at,
            artifacts=artifacts,
        )
        log.error(
            "item_system_exception",
            error_type=type(exc).__name__,
            error=str(exc),
            will_retry=retry_at is not None,
            artifacts=artifacts,
            exc_info=exc,
        )
        return FAILED if retry_at is None else RETRY

    def _save_screenshots(self, ctx: Context, prefix: str) -> list[str]:
        """Ask each open application for a screenshot; never raises."""
        saved = []
        for application in ctx.applications:
            path = ctx.run_dir / f"{prefix}-{_safe(application.name)}.png"
            try:
                written = application.screenshot(path)
            except Exception as exc:
                log.warning(
                    "screenshot_failed", application=application.name, error=str(exc)
                )
                continue
            if written is not None:
                _owner_only(written)
                saved.append(written.relative_to(self.settings.logs).as_posix())
        return saved

    def _save_traces(self, ctx: Context, prefix: str) -> list[str]:
        """Ask each application that keeps a trace to save it; never raises."""
        saved = []
        for application in ctx.applications:
            save = getattr(application, "save_trace", None)
            if save is None:
                continue
            path = ctx.run_dir / f"{prefix}-{_safe(application.name)}-trace.zip"
            try:
                written = save(path)
                if written is not None:
                    _owner_only(written)
                    _hide_secrets_in_trace(written, self.redactor)
            except Exception as exc:
                # a trace that may still hold a password is not kept
                path.unlink(missing_ok=True)
                log.warning(
                    "trace_failed", application=application.name, error=str(exc)
                )
                continue
            if written is not None:
                saved.append(written.relative_to(self.settings.logs).as_posix())
        return saved


def _checked(robot: Robot) -> str:
    """What a preflight of ``robot`` runs, in words."""
    if robot.preflight is not None:
        return "setup and preflight" if robot.setup is not None else "preflight"
    if robot.setup is not None:
        return "setup only (the robot declares no preflight)"
    return "nothing (the robot declares neither setup nor preflight)"


def _notify(ctx: Context, hook: str, argument: object) -> None:
    """Call an optional hook on every open application; a failure is only logged."""
    for application in ctx.applications:
        method = getattr(application, hook, None)
        if method is None:
            continue
        try:
            method(argument)
        except Exception as exc:
            log.warning(
                "application_hook_failed",
                hook=hook,
                application=application.name,
                error=str(exc),
            )


def _lease_lost(guard: LeaseGuard) -> bool:
    """True (and logged) if the item is no longer ours: its new owner records it.

    Asked before recording an exception, which a step of a robot may have raised
    after the lease was lost (or a robot may have turned a LeaseLostError into).
    """
    try:
        guard.check()
    except LeaseLostError:
        log.error("item_lease_lost")
        return True
    except RobotlibError:
        pass  # the queue did not answer: recording the exception will say so
    return False


class _LeaseKeeper:
    """Renews an item's lease in the background while it is processed.

    It renews through the item's :class:`~robotlib._lease.LeaseGuard`, so the steps'
    checks know of each renewal, and a refused one makes the next check fail.
    """

    def __init__(self, guard: LeaseGuard) -> None:
        self._guard = guard
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _renew(self) -> None:
        guard = self._guard
        interval = guard.lease.total_seconds() * _lease.SAFE_SHARE
        while not self._done.wait(interval):
            try:
                guard.renew()
            except LeaseLostError as exc:
                log.error("lease_renewal_failed", item_id=guard.item_id, error=str(exc))
                return
            except RobotlibError as exc:  # the database: the next round may answer
                log.warning(
                    "lease_renewal_failed", item_id=guard.item_id, error=str(exc)
                )


def _as_output(result: Any, stage: str) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    if not isinstance(result, Mapping):
        raise TypeError(
            f"stage {stage!r} returned {type(result).__name__}; return a dict or None"
        )
    jsonable: dict[str, Any] = to_jsonable_python(dict(result), fallback=str)
    return jsonable


def _invalid_row(location: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        column = ".".join(str(part) for part in error["loc"]) or "row"
        value = error.get("input")
        masked = mask_cpr_like(value)
        if isinstance(value, Mapping):
            shown = ""
        else:
            shown = f" (value {value!r})" if masked is None else f" (value {masked})"
        problems.append(f"column {column!r}: {error['msg']}{shown}")
    return f"{location}: " + "; ".join(problems)


def _differences(
    first: Mapping[str, Any],
    second: Mapping[str, Any],
    ignored: Collection[str] = (),
) -> list[tuple[str, Any, Any]]:
    """(field, second's value, first's value) of the fields both have and differ in.

    Fields only one has are left out: a robot that gained a field since an item
    was queued does not make every queued item look different. So are the
    ``ignored`` ones (the robot's ``not_compared``: where a row was read from).
    """
    return [
        (name, second[name], first[name])
        for name in first
        if name in second and name not in ignored and first[name] != second[name]
    ]


def _shown(value: Any) -> str:
    """How a message shows a value: masked if it looks like a CPR number."""
    masked = mask_cpr_like(value)
    return repr(value) if masked is None else masked


def _digest(text: str) -> str:
    """A short fingerprint, so that another bad row at the same place is new."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]


def _private_dir(path: Path) -> Path:
    """Create ``path`` owner-only, and its missing parents too (``logs/<robot>``).

    Parents that exist already keep their mode: a log folder an administrator
    chose is theirs to set.
    """
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    if os.name == "posix":
        for folder in {path, *missing}:
            folder.chmod(0o700)
    return path


def _hide_secrets_in_trace(path: Path, redactor: Redactor) -> None:
    """Rewrite a trace with the text of every registered secret hidden.

    A Playwright trace records what the robot typed, the page's form fields and the
    requests it sent; when the robot logged in again while it recorded, that
    includes the password. A zip (a Playwright trace) is rewritten member by
    member, any other file as a whole. Patient data stays: traces show the
    patient's pages. Bytes that are not UTF-8 (images) pass through unchanged.
    """
    if not zipfile.is_zipfile(path):
        data = path.read_bytes()
        hidden = _hidden(data, redactor)
        if hidden is not data:
            path.write_bytes(hidden)
        return
    draft = path.with_name(f"{path.name}.part")
    changed = False
    try:
        with (
            zipfile.ZipFile(path) as source,
            zipfile.ZipFile(draft, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            _owner_only(draft)
            for info in source.infolist():
                data = source.read(info)
                hidden = _hidden(data, redactor)
                changed = changed or hidden is not data
                target.writestr(info, hidden)
        if changed:
            os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def _hidden(data: bytes, redactor: Redactor) -> bytes:
    """``data`` with the registered secrets hidden; the same object if none was."""
    text = data.decode("utf-8", "surrogateescape")
    hidden = redactor.hide_secrets(text)
    return data if hidden == text else hidden.encode("utf-8", "surrogateescape")


def _owner_only(path: Path) -> None:
    if os.name == "posix" and path.exists():
        path.chmod(0o600)
