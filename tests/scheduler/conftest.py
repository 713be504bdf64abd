"""Fixtures of the scheduler tests: a project with a quick robot, schedulers to start.

The robot ``slow`` sleeps ``sleep_s`` per item, then appends the item to
``done.jsonl`` with its process id and the time: the tests read there which process
ran what, and when. Without ``--input`` it makes one new item per run. Schedulers
run as real ``rpa scheduler`` processes, as in production.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from robotlib.logs import read_events
from robotlib.queue import SqlAlchemyBackend
from robotlib.queue._engine import create_queue_engine
from robotlib.scheduler import Firing, FiringStore
from robotlib.settings import load_settings

ROBOT = '''\
"""A robot for scheduler tests: sleeps, then records the item in done.jsonl."""

import json
import os
import time
from pathlib import Path

from pydantic import BaseModel

from robotlib import ApplicationError, BusinessRuleError, Context, RetryPolicy, Robot


class Row(BaseModel):
    key: str
    sleep_s: float = 0.0
    bad: bool = False
    broken: bool = False


def read(input_path: Path | None) -> list[dict[str, object]]:
    if input_path is None:
        sleep = float(os.environ.get("SLOW_SLEEP_S", "0"))
        return [{"key": f"k{time.time_ns()}", "sleep_s": sleep}]
    rows: list[dict[str, object]] = json.loads(input_path.read_text("utf-8"))
    return rows


def process(ctx: Context, item: Row) -> None:
    started = time.time()
    time.sleep(item.sleep_s)
    if item.bad:
        raise BusinessRuleError(f"item {item.key} is bad: fix it in the export")
    if item.broken:
        raise ApplicationError("the target system answered HTTP 503")
    record = {"key": item.key, "pid": os.getpid(), "start": started, "end": time.time()}
    with (ctx.settings.project_dir / "done.jsonl").open("a") as file:
        file.write(json.dumps(record) + "\\n")


def check_pages(ctx: Context) -> None:
    if (ctx.settings.project_dir / "preflight-fails").exists():
        raise RuntimeError("the button 'Register lab result' is gone")


robot = Robot(
    name="slow",
    item=Row,
    source=read,
    reference="key",
    process=process,
    preflight=check_pages,
    retry=RetryPolicy(attempts=1, backoff_s=(0,)),
    stop_after_system_errors=1,
)
'''

#: A command notifier: appends the notification (stdin JSON) to notified.jsonl.
NOTIFIER = """\
import json, sys
from pathlib import Path
data = json.load(sys.stdin)
with (Path(sys.argv[1]) / "notified.jsonl").open("a") as file:
    file.write(json.dumps(data) + "\\n")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A robot project: robots/slow.py, a command notifier, no schedules yet."""
    folder = tmp_path / "project"
    (folder / "robots").mkdir(parents=True)
    (folder / "schedules").mkdir()
    (folder / "robots" / "slow.py").write_text(ROBOT, "utf-8")
    (folder / "notifier.py").write_text(NOTIFIER, "utf-8")
    notify = json.dumps([sys.executable, str(folder / "notifier.py"), str(folder)])
    (folder / "rpa.toml").write_text(f"[notify]\ncommand = {notify}\n", "utf-8")
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("SLOW_SLEEP_S", raising=False)
    return folder


@pytest.fixture
def write_schedule(project: Path) -> Callable[[str], Path]:
    """Write schedules/test.toml."""

    def write(text: str) -> Path:
        path = project / "schedules" / "test.toml"
        path.write_text(text, "utf-8")
        return path

    return write


class Schedulers:
    """Starts ``rpa scheduler`` processes on the project; stops them all at the end."""

    def __init__(self, project: Path, logs: Path) -> None:
        self.project = project
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *options: str, env: dict[str, str] | None = None) -> Any:
        argv = [sys.executable, "-m", "robotlib.cli", "--project", str(self.project)]
        argv += ["scheduler", "--poll", "0.3", "--lock-ttl", "3", *options]
        output = (self.logs / f"scheduler-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            argv,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        output.close()
        self.started.append(process)
        return process

    def stop(self, process: Any, *, kill: bool = False) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            process.wait(timeout=60)

    def output(self, index: int) -> str:
        return (self.logs / f"scheduler-{index}.log").read_text("utf-8", "replace")

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def schedulers(project: Path, tmp_path: Path) -> Iterator[Schedulers]:
    """Start schedulers with ``schedulers.start()``; all are killed afterwards."""
    found = Schedulers(project, tmp_path)
    yield found
    found.close()


@pytest.fixture
def firings(project: Path) -> Iterator[FiringStore]:
    """The project's firing records."""
    engine = create_queue_engine(load_settings(project).database)
    SqlAlchemyBackend(engine).close()  # creates the tables
    yield FiringStore(engine)
    engine.dispose()


@pytest.fixture
def backend(project: Path) -> Iterator[SqlAlchemyBackend]:
    """The project's queue and run records."""
    opened = SqlAlchemyBackend(load_settings(project).database)
    yield opened
    opened.close()


@pytest.fixture
def done(project: Path) -> Callable[[], list[dict[str, Any]]]:
    """The items the robot processed: key, pid, start, end."""

    def read() -> list[dict[str, Any]]:
        path = project / "done.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]

    return read


@pytest.fixture
def notified(project: Path) -> Callable[[], list[dict[str, Any]]]:
    """The notifications the command notifier received."""

    def read() -> list[dict[str, Any]]:
        path = project / "notified.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]

    return read


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """``wait_for(condition, timeout, what)``: poll until truthy, else fail."""
    return _wait


@pytest.fixture
def finished_runs(firings: FiringStore) -> Callable[[], list[Firing]]:
    """The firings that ran the robot and have finished, oldest first."""

    def read() -> list[Firing]:
        found = firings.find(kind="run")
        ran = [f for f in found if f.run_id is not None and f.status != "running"]
        return sorted(ran, key=lambda f: f.started_at)

    return read


@pytest.fixture
def scheduler_events(project: Path) -> Callable[[], list[dict[str, Any]]]:
    """Every event the project's schedulers logged (logs/_scheduler/*/events.jsonl)."""

    def read() -> list[dict[str, Any]]:
        folder = project / "logs" / "_scheduler"
        return [
            event
            for path in sorted(folder.glob("*/events.jsonl"))
            for event in read_events(path)
        ]

    return read


@pytest.fixture
def store_job_then_stop(
    schedulers: Schedulers, scheduler_events: Callable[[], list[dict[str, Any]]]
) -> Callable[[], float]:
    """Start a scheduler until it has stored the jobs, stop it; return when."""

    def run() -> float:
        scheduler = schedulers.start()
        stored = _wait(
            lambda: [e for e in scheduler_events() if e["event"] == "job_scheduled"],
            30,
            "the scheduler to store the jobs",
        )
        stored_at = time.time()
        schedulers.stop(scheduler)
        assert stored
        return stored_at

    return run
