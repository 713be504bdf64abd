"""Fixtures of the scheduler tests: a project with a quick robot, schedulers to start.

The robot is ``slow`` (see ``write_slow_robot`` in the root conftest). Schedulers
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

from robotlib.db import database_engine
from robotlib.logs import read_events
from robotlib.queue import SqlAlchemyBackend
from robotlib.scheduler import Firing, FiringStore
from robotlib.settings import load_settings

#: A command notifier: appends the notification (stdin JSON) to notified.jsonl.
NOTIFIER = """\
import json, sys
from pathlib import Path
data = json.load(sys.stdin)
with (Path(sys.argv[1]) / "notified.jsonl").open("a") as file:
    file.write(json.dumps(data) + "\\n")
"""


@pytest.fixture
def project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_slow_robot: Callable[[Path], Path],
) -> Path:
    """A robot project: robots/slow.py, a command notifier, no schedules yet."""
    folder = tmp_path / "project"
    write_slow_robot(folder)
    (folder / "schedules").mkdir()
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
    engine = database_engine(load_settings(project).database)
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
