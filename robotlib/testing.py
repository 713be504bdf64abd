"""The test kit: run a robot end to end in a test, and smaller helpers.

:func:`run_robot` runs a robot as ``rpa run`` does (its source, setup, stages,
verify), on an in-memory queue, with credentials given as data, and returns its
items and outcomes; :func:`preflight_robot` runs its preflight. The pytest plugin
(:mod:`robotlib.pytest_plugin`, active once robotlib is installed) wraps them in
fixtures, with a live sandbox and a shared headless Chromium.

Example:
    >>> run = run_robot("lab_results", input="robots/inputs/lab_results.xlsx",
    ...                 credentials={"sandbox": {"url": URL, "username": "robot",
    ...                                          "password": "robot-pass-1"}})
    ... # doctest: +SKIP
    >>> run.outcomes["010473-9321|NPU02319|2026-11-20T08:15:00"]  # doctest: +SKIP
    'done'
    >>> from robotlib.testing import InMemoryBackend, make_work_item
    >>> make_work_item(reference="240512-4123|NPU02319").state.value
    'new'
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from robotlib.queue.base import QueueBackend
from robotlib.queue.memory import InMemoryBackend
from robotlib.queue.models import ItemState, WorkItem
from robotlib.robot import RetryPolicy, Robot

if TYPE_CHECKING:
    from playwright.sync_api import Browser
    from pydantic import BaseModel

    from robotlib.context import Context
    from robotlib.engine import Engine, PreflightResult, RunResult

__all__ = [
    "FakeClock",
    "InMemoryBackend",
    "ItemState",
    "RobotRun",
    "WorkItem",
    "capture_events",
    "find_project",
    "load_robot",
    "make_work_item",
    "preflight_robot",
    "run_robot",
    "scratch_context",
]

#: Credentials as a test gives them: system → field → value, e.g.
#: ``{"sandbox": {"url": "http://127.0.0.1:8765", "username": "robot",
#: "password": "..."}}``.
CredentialsData = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class RobotRun:
    """What a robot's run did: its result, and its items in the queue.

    Attributes:
        result: how the run ended (``status``, ``counts``, ``note``, ``run_dir``).
        backend: the queue it ran on (``backend.history(item.id)``, ...).
        robot: the robot, as it ran (with the project's defaults).
    """

    result: RunResult
    backend: QueueBackend
    robot: Robot[Any]

    @property
    def exit_code(self) -> int:
        """The exit code ``rpa run`` would have ended with."""
        return self.result.exit_code

    @property
    def items(self) -> list[WorkItem]:
        """Every item of the robot in the queue, oldest first."""
        return self.backend.items(self.robot.name)

    @property
    def outcomes(self) -> dict[str, str]:
        """Each item's state by its reference: ``"done"``, ``"business_exception"``,
        ``"failed"``... (the states ``rpa queue`` shows)."""
        return {item.reference: item.state.value for item in self.items}

    def item(self, reference: str) -> WorkItem:
        """The item with this reference.

        Raises:
            KeyError: there is none; the message lists the references there are.
        """
        for item in self.items:
            if item.reference == reference:
                return item
        raise KeyError(f"no item {reference!r}; there are {sorted(self.outcomes)}")


def find_project(start: Path) -> Path:
    """The robot project ``start`` is in.

    The nearest folder from ``start`` up that holds an ``rpa.toml``; without one,
    the nearest holding a ``robots/`` package (``robots/__init__.py``), so that a
    ``tests/robots/`` folder of tests is not taken for the robots.

    Raises:
        LookupError: no folder from ``start`` up is a project.
    """
    start = start.resolve()
    folders = (start, *start.parents)
    for marker in ("rpa.toml", "robots/__init__.py"):
        for folder in folders:
            if (folder / marker).is_file() and (folder / "robots").is_dir():
                return folder
    raise LookupError(
        f"no robot project (rpa.toml, or robots/__init__.py) in {start} or above it"
    )


def load_robot(name: str, *, project_dir: Path | None = None) -> Robot[Any]:
    """The robot ``name`` of the project (default: the one the current folder is in).

    For a test that wraps one of its functions (``robot.process[0].run``).
    """
    from robotlib.discovery import load_robot as load

    return load((project_dir or find_project(Path.cwd())) / "robots", name).robot


def run_robot(
    robot: Robot[Any] | str,
    *,
    input: Path | str | None = None,
    credentials: CredentialsData | None = None,
    backend: QueueBackend | None = None,
    project_dir: Path | None = None,
    work_dir: Path | None = None,
    browser: Browser | None = None,
    limit: int | None = None,
    wait_for_retries: bool = False,
    **fields: Any,
) -> RobotRun:
    """Run a robot end to end, as ``rpa run ROBOT --input FILE`` does.

    Args:
        robot: a :class:`~robotlib.robot.Robot`, or the name of one in the
            project's ``robots/``.
        input: the input file (default: the robot source's own).
        credentials: the systems the robot logs in to, as data (nothing is read
            from credentials.toml, the environment or a keyring).
        backend: the queue; default a new in-memory one. Pass the same one to a
            second run to test a rerun.
        project_dir: the project (its ``rpa.toml`` and ``robots/``); default the
            one the current folder is in.
        work_dir: where the run's logs and files go (the project folder the robot
            sees); default a new temporary folder.
        browser: a running Chromium to share (the plugin's ``rpa_browser``);
            default the run launches its own.
        limit: claim at most this many items.
        wait_for_retries: wait the robot's backoff before a retry (default: retry
            at once, so a test does not sleep).
        fields: robot fields to replace for this run (``stop_after_system_errors=0``).
    """
    engine, backend = _engine(
        robot,
        credentials=credentials,
        backend=backend,
        project_dir=project_dir,
        work_dir=work_dir,
        browser=browser,
        wait_for_retries=wait_for_retries,
        fields=fields,
    )
    result = engine.run(
        input_path=Path(input) if input is not None else None, limit=limit
    )
    return RobotRun(result, backend, engine.robot)


def preflight_robot(
    robot: Robot[Any] | str,
    *,
    credentials: CredentialsData | None = None,
    project_dir: Path | None = None,
    work_dir: Path | None = None,
    browser: Browser | None = None,
    **fields: Any,
) -> PreflightResult:
    """Run a robot's preflight (setup, its checks, teardown), as ``rpa preflight``.

    The arguments are :func:`run_robot`'s.
    """
    engine, _ = _engine(
        robot,
        credentials=credentials,
        backend=None,
        project_dir=project_dir,
        work_dir=work_dir,
        browser=browser,
        wait_for_retries=False,
        fields=fields,
    )
    return engine.preflight()


@contextmanager
def scratch_context(
    work_dir: Path,
    *,
    credentials: CredentialsData | None = None,
    browser: Browser | None = None,
) -> Iterator[Context]:
    """A run's context with no robot to speak of, for testing steps and helpers.

    What is opened in it (``open_browser(ctx, ...)``) is closed at the end.
    """
    from pydantic import BaseModel

    from robotlib.context import Context
    from robotlib.credentials import Credentials
    from robotlib.logs import build_redactor
    from robotlib.settings import Settings

    class Nothing(BaseModel):
        reference: str

    settings = Settings(project_dir=work_dir, cpr_in_logs="hash", use_keyring=False)
    redactor = build_redactor(settings)
    environ = _environ(credentials)
    ctx = Context(
        robot=Robot(
            name="scratch", item=Nothing, reference="reference", process=_nothing
        ),
        settings=settings,
        run_id="scratch",
        run_dir=work_dir,
        credentials_loader=lambda: Credentials.load(
            settings, environ=environ, redactor=redactor
        ),
        shared={"robotlib.browser": browser} if browser is not None else {},
    )
    try:
        yield ctx
    finally:
        for application in reversed(ctx.applications):
            application.close()
        ctx.end_run()


def _nothing(ctx: Context, item: BaseModel) -> None:
    """The scratch robot's stage."""


def _environ(credentials: CredentialsData | None) -> dict[str, str]:
    """The ``RPA_CRED_*`` variables that say ``credentials``."""
    return {
        f"RPA_CRED_{system.upper()}_{name.upper()}": value
        for system, values in (credentials or {}).items()
        for name, value in values.items()
    }


def _engine(
    robot: Robot[Any] | str,
    *,
    credentials: CredentialsData | None,
    backend: QueueBackend | None,
    project_dir: Path | None,
    work_dir: Path | None,
    browser: Browser | None,
    wait_for_retries: bool,
    fields: Mapping[str, Any],
) -> tuple[Engine, QueueBackend]:
    from robotlib.credentials import Credentials
    from robotlib.discovery import load_robot
    from robotlib.engine import Engine
    from robotlib.logs import build_redactor, configure_logging
    from robotlib.settings import load_settings

    project = project_dir or find_project(Path.cwd())
    work = work_dir or Path(tempfile.mkdtemp(prefix="rpa-test-"))
    settings = load_settings(project).model_copy(
        update={
            "project_dir": work,
            "log_dir": None,
            "cpr_in_logs": "hash",
            "credentials_file": work / "credentials.toml",
            "use_keyring": False,
        }
    )
    if isinstance(robot, str):
        robot = load_robot(project / "robots", robot).robot
    if not wait_for_retries and "retry" not in fields:
        attempts = robot.retry.attempts
        fields = {**fields, "retry": RetryPolicy(attempts=attempts, backoff_s=(0,))}
    robot = robot.replace(**fields) if fields else robot
    redactor = build_redactor(settings)
    configure_logging(settings, redactor=redactor, console_level="ERROR")
    environ = _environ(credentials)
    backend = backend if backend is not None else InMemoryBackend()
    engine = Engine(
        robot,
        settings=settings,
        backend=backend,
        redactor=redactor,
        credentials_loader=lambda: Credentials.load(
            settings, environ=environ, redactor=redactor
        ),
        shared={"robotlib.browser": browser} if browser is not None else None,
        sleep=None if wait_for_retries else (lambda seconds: None),
    )
    return engine, backend


class FakeClock:
    """A clock that stands still until told to move; pass it as ``clock=``.

    Example:
        >>> clock = FakeClock()
        >>> clock.advance(minutes=5)
        >>> clock() == FakeClock.START + timedelta(minutes=5)
        True
    """

    START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move the clock forward by ``delta`` or ``timedelta(**parts)``; return the
        new time (``clock.advance(minutes=5)``, ``clock.advance(LEASE)``)."""
        self.now += (delta or timedelta()) + timedelta(**parts)
        return self.now


def make_work_item(**overrides: Any) -> WorkItem:
    """Return a work item with sensible defaults; override any field.

    Example:
        >>> make_work_item(attempts=2).attempts
        2
    """
    item = WorkItem(
        id=1,
        robot="robot",
        reference="ref-1",
        payload={},
        state=ItemState.NEW,
        priority=0,
        not_before=None,
        deadline=None,
        attempts=0,
        claims=0,
        finished_stages=(),
        lease_owner=None,
        lease_expires=None,
        created_at=FakeClock.START,
        started_at=None,
        finished_at=None,
        output={},
        error_type=None,
        error_message=None,
        artifacts=(),
        run_id=None,
    )
    return replace(item, **overrides)


@contextmanager
def capture_events() -> Iterator[list[MutableMapping[str, Any]]]:
    """Collect the log events emitted inside the block (structlog's capture_logs).

    Example:
        >>> with capture_events() as events:
        ...     structlog.get_logger().info("item_done", item_id=1)
        >>> events[0]["event"]
        'item_done'
    """
    with structlog.testing.capture_logs() as events:
        yield events
