"""A worker killed mid-item loses nothing; with a precheck nothing is done twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from robotlib.queue import open_backend
from robotlib.queue.models import ItemState
from robotlib.settings import load_settings

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="SIGKILL does not exist on Windows"
)

ROBOT = textwrap.dedent(
    '''
    """Registers numbers in a SQLite "target system"; hangs on cue after saving."""

    import sqlite3
    import time
    from datetime import timedelta
    from pathlib import Path

    from pydantic import BaseModel

    from robotlib import Context, RetryPolicy, Robot

    HERE = Path(__file__).resolve().parent.parent


    class Job(BaseModel):
        ref: str


    def target() -> sqlite3.Connection:
        db = sqlite3.connect(HERE / "target.db", timeout=10, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS registrations (ref TEXT, id INTEGER)")
        return db


    def register(ctx: Context, job: Job) -> dict:
        with target() as db:
            db.execute("INSERT INTO registrations VALUES (?, ?)", (job.ref, 7))
        if (HERE / "hang-on").read_text() == job.ref:
            (HERE / "saved").write_text(job.ref)
            time.sleep(600)
        return {"registration_id": 7}


    def already_registered(ctx: Context, job: Job) -> dict | None:
        with target() as db:
            row = db.execute(
                "SELECT id FROM registrations WHERE ref = ?", (job.ref,)
            ).fetchone()
        return {"registration_id": row[0]} if row else None


    robot = Robot(
        name="crashy",
        item=Job,
        source=lambda path: [{"ref": "A"}, {"ref": "B"}, {"ref": "C"}],
        reference=["ref"],
        process=register,
        precheck=already_registered,
        retry=RetryPolicy(attempts=3, backoff_s=(0,)),
        lease=timedelta(seconds=1),
    )
    '''
)


def _rpa(project: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("rpa")), "--project", str(project)]


def _wait_for(condition: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_killed_worker_item_is_recovered_and_not_registered_twice(
    tmp_path: Path,
) -> None:
    """SIGKILL after saving: the lease expires, the next run prechecks and finishes."""
    (tmp_path / "robots").mkdir()
    (tmp_path / "robots" / "crashy.py").write_text(ROBOT)
    (tmp_path / "hang-on").write_text("B")
    with subprocess.Popen(
        [*_rpa(tmp_path), "run", "crashy"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as worker:
        _wait_for(lambda: (tmp_path / "saved").exists(), "the item to be saved")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()

    backend = open_backend(load_settings(tmp_path).database)
    try:
        stuck = {i.reference: i for i in backend.items("crashy")}["B"]
        assert ItemState.IN_PROGRESS == stuck.state
        assert stuck.lease_expires is not None
        _wait_for(
            lambda: datetime.now(UTC) > stuck.lease_expires,  # type: ignore[operator]
            "the dead worker's lease to expire",
        )
        (tmp_path / "hang-on").write_text("")
        second = subprocess.run(
            [*_rpa(tmp_path), "run", "crashy"], capture_output=True, text=True
        )
        assert 0 == second.returncode, second.stdout + second.stderr
        states = {i.reference: (i.state, i.claims) for i in backend.items("crashy")}
    finally:
        backend.close()
    assert ItemState.DONE == states["B"][0]
    assert 2 == states["B"][1]
    assert {"A", "B", "C"} == {
        ref for ref, (state, _) in states.items() if state is ItemState.DONE
    }
    with sqlite3.connect(tmp_path / "target.db") as db:
        rows = db.execute(
            "SELECT ref, COUNT(*) FROM registrations GROUP BY ref ORDER BY ref"
        ).fetchall()
    assert [("A", 1), ("B", 1), ("C", 1)] == rows
