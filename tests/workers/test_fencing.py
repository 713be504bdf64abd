"""Lease fencing with real worker processes: a paused worker saves nothing twice.

A worker is paused (SIGSTOP) in the middle of an item for longer than its lease;
another worker takes the item over and registers it; the paused one, resumed,
must not run the save step again (the sandbox would record a refused repeat).
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

import httpx2 as httpx
import pytest

from robotlib.queue import ItemState, SqlAlchemyBackend, WorkItem
from sandbox.catalog import LAB_CODES
from sandbox.server import SandboxServer

FENCED_ROBOT = '''\
"""A robot for the fencing test: registers a lab result over HTTP.

On its first claim of an item it waits in the step ``wait_for_go`` until the test
writes the file ``go`` into the project: a slow step just before the save.
"""

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
from pydantic import BaseModel

from robotlib import ApplicationError, Context, RetryPolicy, Robot
from robotlib.steps import step


class Row(BaseModel):
    cpr: str
    code: str
    value: str
    unit: str
    sampled_at: str


def read(input_path: Path | None) -> list[dict[str, str]]:
    assert input_path is not None
    rows: list[dict[str, str]] = json.loads(input_path.read_text("utf-8"))
    return rows


@step
def log_in(client: httpx.Client, *, password: str) -> None:
    answer = client.post("/login", data={"username": "robot", "password": password})
    if answer.status_code != 303:
        raise ApplicationError(f"login answered HTTP {answer.status_code}")


@step
def find_patient(client: httpx.Client, *, cpr: str) -> str:
    answer = client.post("/patients/search", data={"cpr": cpr})
    return answer.headers["location"]


@step
def wait_for_go(project: Path, *, claims: int) -> None:
    if claims > 1:
        return
    (project / f"waiting-{os.getpid()}").touch()
    while not (project / "go").exists():
        time.sleep(0.05)


@step
def save(client: httpx.Client, patient: str, row: Row) -> None:
    answer = client.post(
        f"{patient}/lab-results",
        data={
            "code": row.code,
            "value": row.value,
            "unit": row.unit,
            "sampled_at": row.sampled_at,
        },
    )
    if answer.status_code != 303:
        raise ApplicationError(f"saving answered HTTP {answer.status_code}")


def process(ctx: Context, row: Row) -> None:
    assert ctx.item is not None
    with httpx.Client(base_url=os.environ["FENCED_URL"], timeout=30) as client:
        log_in(client, password="robot-pass-1")
        patient = find_patient(client, cpr=row.cpr)
        wait_for_go(ctx.settings.project_dir, claims=ctx.item.claims)
        save(client, patient, row)


robot = Robot(
    name="fenced",
    item=Row,
    source=read,
    reference=["cpr", "code", "sampled_at"],
    process=process,
    lease=timedelta(seconds=2),
    retry=RetryPolicy(attempts=1),
)
'''


class Workers:
    """Worker processes of one project; every one is reaped at the end."""

    def __init__(self, project: Path, sandbox_url: str) -> None:
        self.project = project
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RPA_")},
            "RPA_LOG_DIR": str(project / "logs"),
            "FENCED_URL": sandbox_url,
        }
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "robotlib.cli", "--project", str(self.project)]
        process = subprocess.Popen(
            [*argv, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def reap(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)  # a stopped one cannot die
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


@pytest.fixture
def workers(tmp_path: Path, live_sandbox: SandboxServer) -> Iterator[Workers]:
    project = tmp_path / "project"
    (project / "robots").mkdir(parents=True)
    (project / "robots" / "fenced.py").write_text(FENCED_ROBOT, "utf-8")
    made = Workers(project, live_sandbox.url)
    try:
        yield made
    finally:
        made.reap()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_a_paused_worker_does_not_save_an_item_another_worker_took(
    workers: Workers, live_sandbox: SandboxServer
) -> None:
    """SIGSTOP past the lease, another worker finishes the item, SIGCONT: the first
    worker's next step refuses (item_lease_lost); the EPJ holds one registration."""
    api = f"{live_sandbox.url}/api"
    patient = httpx.get(f"{api}/patients?limit=1").json()[0]
    lab = next(iter(LAB_CODES.values()))
    row = {
        "cpr": patient["cpr"],
        "code": lab.code,
        "value": f"{(lab.low + lab.high) / 2:g}".replace(".", ","),
        "unit": lab.unit,
        "sampled_at": "2026-11-02T06:00",
    }
    items = workers.project / "items.json"
    items.write_text(json.dumps([row]), "utf-8")
    backend = SqlAlchemyBackend(f"sqlite:///{workers.project / '.rpa' / 'robotlib.db'}")
    try:
        first = workers.start("run", "fenced", "--input", str(items))
        wait_for(
            lambda: any(workers.project.glob("waiting-*")) or first.poll() is not None,
            "the first worker waits before the save",
        )
        assert first.poll() is None, first.communicate()[0]
        [item] = backend.items("fenced")
        assert item.lease_owner is not None
        _host, pid, run_id = item.lease_owner.split(":", 2)
        assert (workers.project / f"waiting-{pid}").exists()

        os.kill(int(pid), signal.SIGSTOP)
        wait_for(lambda: expired(backend, item), "the paused worker's lease ran out")
        second = workers.start("worker", "fenced")
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 0, output
        assert ItemState.DONE == backend.get(item.id).state
        (workers.project / "go").touch()
        os.kill(int(pid), signal.SIGCONT)
        output, _ = first.communicate(timeout=60)

        [paused_run] = [run for run in backend.runs("fenced") if run.id == run_id]
        done = backend.get(item.id)
    finally:
        backend.close()

    assert {"lease_lost": 1} == paused_run.counts, output
    assert (ItemState.DONE, 2, 1) == (done.state, done.claims, done.attempts - 1)
    assert [] == httpx.get(f"{api}/repeats").json()
    registered = httpx.get(f"{api}/lab-results", params={"cpr": row["cpr"]}).json()
    assert [(lab.code, "robot")] == [
        (r["code"], r["registered_by"])
        for r in registered
        if r["sampled_at"] == row["sampled_at"]
    ]
    events = [
        json.loads(line)
        for line in (workers.project / "logs" / "fenced" / run_id / "events.jsonl")
        .read_text("utf-8")
        .splitlines()
    ]
    seen = [(e["event"], e.get("step")) for e in events if e.get("item_id")]
    assert ("step_not_started", "save") in seen
    assert ("step_started", "save") not in seen
    ended = [event for event, _ in seen if event.startswith("item_")]
    assert ["item_started", "item_lease_lost"] == ended


def expired(backend: SqlAlchemyBackend, item: WorkItem) -> bool:
    expires = backend.get(item.id).lease_expires
    return expires is not None and expires < backend.clock()
