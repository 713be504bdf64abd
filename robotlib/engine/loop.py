"""The transaction loop: load → setup → claim / process / record → teardown.

One engine runs one robot in one worker process. It never loses an item: every item
it claims ends ``done``, ``business_exception`` or ``failed``, goes back to ``new``
for a retry, or (if this worker dies) returns to the queue when its lease expires.
After ``stop_after_system_errors`` system exceptions in a row it stops the run and
leaves the rest of the queue untouched; after any system exception it restarts the
applications (teardown, then setup). A stop request (Ctrl+C, SIGTERM) lets the
current item finish its bookkeeping. What one item does is :mod:`.items`; the input
is :mod:`.intake`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from robotlib.context import Context
from robotlib.engine.applications import stop_applications
from robotlib.engine.artifacts import save_screenshots
from robotlib.engine.intake import DryRunReport, Intake
from robotlib.engine.items import ItemProcessor, elapsed_ms
from robotlib.engine.preflight import PreflightResult, run_preflight
from robotlib.engine.report import write_report
from robotlib.engine.runs import (
    EXIT_INVALID,
    EXIT_STOPPED,
    RunObserver,
    RunResult,
    check_run_id,
    ended,
    new_run_id,
    private_dir,
)
from robotlib.errors import ConfigurationError
from robotlib.logs import Redactor, run_log
from robotlib.queue.base import QueueBackend
from robotlib.queue.models import EnqueueResult, ItemState, Outcome, RunStatus
from robotlib.robot import Robot
from robotlib.settings import Settings
from robotlib.versions import CodeVersion

__all__ = ["Engine"]

log = structlog.get_logger("robotlib.engine")

#: Outcomes that end a streak of system exceptions, and those that extend one.
_GOOD = frozenset({Outcome.DONE, Outcome.BUSINESS_EXCEPTION})
_SYSTEM = frozenset({Outcome.RETRIED, Outcome.FAILED})


@dataclass
class _Loop:
    """What the loop keeps track of in one run."""

    counts: Counter[str] = field(default_factory=Counter)
    claimed: int = 0
    consecutive_system: int = 0
    #: The one item to process (``rpa run --item``), or None: every due item.
    only: int | None = None


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
        robot: Robot[Any],
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
        version: CodeVersion | None = None,
    ) -> None:
        robot = with_project_defaults(robot, settings)
        #: The code this engine runs, recorded on each of its runs.
        self.version = version
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
        self._items = ItemProcessor(
            robot,
            backend,
            redactor,
            settings.logs,
            keep_traces=settings.keep_traces,
            pause_on_failure=settings.pause_on_failure,
        )

    # Public API --------------------------------------------------------------------

    def run(
        self,
        *,
        input_path: Path | None = None,
        limit: int | None = None,
        run_id: str | None = None,
        load: bool = True,
        item_id: int | None = None,
    ) -> RunResult:
        """Load the input, then process items until the queue is empty or a stop.

        Args:
            input_path: the input file for the robot's source (default: the source's
                own default).
            limit: claim at most this many items.
            run_id: the run's id; default a new one. The scheduler chooses it, so
                that it can find the run of a child process it had to kill.
            load: False for a worker: process what is in the queue, load nothing.
            item_id: process this item only (``rpa run --item``), if it is due.
        """
        if run_id is not None:
            check_run_id(run_id)
        run_id = run_id or new_run_id(self.backend.clock())
        run_dir = private_dir(self.settings.logs / self.robot.name / run_id)
        ctx = Context(
            robot=self.robot,
            settings=self.settings,
            run_id=run_id,
            run_dir=run_dir,
            credentials_loader=self.credentials_loader,
            shared=dict(self.shared),
        )
        loop = _Loop(only=item_id)
        loaded: EnqueueResult | None = None
        status, note, exit_code = RunStatus.CRASHED, "", EXIT_STOPPED
        with (
            run_log(run_dir / "events.jsonl"),
            structlog.contextvars.bound_contextvars(
                robot=self.robot.name, run_id=run_id
            ),
        ):
            self.backend.start_run(
                run_id,
                self.robot.name,
                host=self.host,
                pid=self.pid,
                version=self.version,
            )
            log.info(
                "run_started",
                host=self.host,
                pid=self.pid,
                input=str(input_path),
                **asdict(self.version or CodeVersion()),
            )
            try:
                if load:
                    loaded, rejected = self._intake().load(input_path, run_id)
                    if rejected:
                        loop.counts[Outcome.BUSINESS_EXCEPTION] += rejected
                recovered = self.backend.recover_expired(self.robot.name)
                if recovered:
                    log.warning("leases_recovered", items=[i.id for i in recovered])
                if self.observer is not None:
                    due = self.backend.counts(self.robot.name)[ItemState.NEW]
                    self.observer.loaded(loaded, due)
                try:
                    status, note = self._loop(ctx, loop, limit)
                    self._finish(ctx)
                finally:
                    for problem in ctx.end_run():
                        log.warning("run_end_callback_failed", error=str(problem))
                failed = loop.counts[Outcome.FAILED]
                status, exit_code = ended(status, failed, self.settings)
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
                write_report(
                    self.backend,
                    run_id,
                    self.robot.name,
                    run_dir / "report.xlsx",
                    outputs=self.robot.outputs,
                    clear_cpr=self.settings.cpr_in_logs == "clear",
                )
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

    def dry_run(self, *, input_path: Path | None = None) -> DryRunReport:
        """Read and validate the input; report what a run would enqueue."""
        return self._intake().dry_run(input_path)

    def load(self, input_path: Path | None, run_id: str) -> tuple[EnqueueResult, int]:
        """Load the input into the queue, and do nothing else.

        Returns what was enqueued, and how many rows were rejected on the way
        (enqueued as business exceptions). Workers started afterwards
        (:mod:`robotlib.workers`) process the items.
        """
        return self._intake().load(input_path, run_id)

    def preflight(self) -> PreflightResult:
        """Run setup, the robot's preflight and teardown; report whether they passed.

        A check before a batch that the robot can still log in and find the pages
        and fields it needs; it touches no queue (:mod:`robotlib.engine.preflight`).
        It never raises: any exception or Ctrl+C is a failed preflight.

        Example:
            >>> result = project.engine("lab_results").preflight()  # doctest: +SKIP
            >>> result.ok, result.message  # doctest: +SKIP
            (False, "login to 'sandbox' as 'robot' was refused: Wrong password.")
        """
        return run_preflight(
            self.robot,
            settings=self.settings,
            redactor=self.redactor,
            credentials_loader=self.credentials_loader,
            shared=self.shared,
            host=self.host,
            pid=self.pid,
        )

    # Private API -------------------------------------------------------------------

    def _intake(self) -> Intake:
        return Intake(
            self.robot,
            settings=self.settings,
            backend=self.backend,
            redactor=self.redactor,
            stable_for_s=self.input_stable_s,
        )

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
                    if not loop.claimed and self._nothing_queued(loop.only):
                        log.info("nothing_due")  # no browser opened, no login
                        return RunStatus.COMPLETED, "nothing to do"
                    running = self._start_applications(ctx, loop)
                    if self._too_many_system_errors(loop):
                        return RunStatus.STOPPED, self._stop_note(loop)
                    continue
                owner = self._owner(ctx)
                item = self.backend.claim_next(
                    robot.name,
                    owner=owner,
                    lease=robot.lease,
                    run_id=ctx.run_id,
                    item_id=loop.only,
                )
                if item is None:
                    if self._wait_for_retry(deadline, loop.only):
                        continue
                    return RunStatus.COMPLETED, ""
                loop.claimed += 1
                outcome = self._items.process(ctx, item, owner)
                loop.counts[outcome] += 1
                if self.observer is not None:
                    self.observer.item_finished(outcome)
                if outcome in _SYSTEM:
                    loop.consecutive_system += 1
                    stop_applications(robot, ctx, reason="system exception")
                    running = False
                    if self._too_many_system_errors(loop):
                        return RunStatus.STOPPED, self._stop_note(loop)
                elif outcome in _GOOD:
                    loop.consecutive_system = 0
        finally:
            if running:
                stop_applications(robot, ctx, reason="run ended")

    def _nothing_queued(self, only: int | None) -> bool:
        """Whether the robot has no ``new`` item at all (due or waiting)."""
        if only is not None:
            return False  # the one item's claim says what it is
        return self.backend.counts(self.robot.name)[ItemState.NEW] == 0

    def _owner(self, ctx: Context) -> str:
        return f"{self.host}:{self.pid}:{ctx.run_id}"

    def _too_many_system_errors(self, loop: _Loop) -> bool:
        limit = self.robot.stop_after_system_errors
        return limit > 0 and loop.consecutive_system >= limit

    def _stop_note(self, loop: _Loop) -> str:
        note = f"stopped after {loop.consecutive_system} system exceptions in a row"
        log.error("run_stopping", reason=note)
        return note

    def _wait_for_retry(self, deadline: datetime | None, only: int | None) -> bool:
        """Wait for the earliest retry due in the queue; False when there is none.

        Any worker's retries count, not only this run's: a worker that died while
        waiting for one leaves it to the others (or to the one replacing it).
        """
        now = self.backend.clock()
        waiting = self.backend.items(self.robot.name, states=[ItemState.NEW])
        retries = [
            item.not_before
            for item in waiting
            if item.attempts > 0
            and item.not_before is not None
            and only in (None, item.id)
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

    def _finish(self, ctx: Context) -> None:
        """Run the robot's finish hook once; what it raises crashes the run."""
        if self.robot.finish is None:
            return
        started = time.perf_counter()
        self.robot.finish(ctx)
        log.info("finish_finished", duration_ms=elapsed_ms(started))

    def _start_applications(self, ctx: Context, loop: _Loop) -> bool:
        """Run setup; a failure counts as a system exception. True when it worked."""
        robot = self.robot
        if not robot.starts_applications:
            return True
        started = time.perf_counter()
        try:
            robot.start(ctx)
        except ConfigurationError:
            # wrong credentials, a missing browser: trying again cannot help (and a
            # refused login tried again locks the account), so the run stops.
            stop_applications(robot, ctx, reason="setup found a configuration error")
            raise
        except Exception as exc:
            loop.consecutive_system += 1
            loop.counts[Outcome.SETUP_FAILED] += 1
            log.exception("setup_failed", error_type=type(exc).__name__, error=str(exc))
            save_screenshots(ctx, "setup", self.settings.logs)
            stop_applications(robot, ctx, reason="setup failed")
            delay = robot.retry.delay_after(1) or timedelta(0)
            if not self._too_many_system_errors(loop):
                self._sleep(delay.total_seconds())
            return False
        log.info("setup_finished", duration_ms=elapsed_ms(started))
        return True


def with_project_defaults(robot: Robot[Any], settings: Settings) -> Robot[Any]:
    """The robot with the project's ``[robots]`` defaults where it sets nothing."""
    defaults = settings.robots.model_dump(exclude_none=True)
    update = {
        name: getattr(settings.robots, name)
        for name in defaults
        if name not in robot.model_fields_set
    }
    return robot.model_copy(update=update) if update else robot
