"""`rpa run --workers N` and `rpa worker`: worker processes sharing one queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from robotlib.queue import ItemState, RunStatus, SqlAlchemyBackend


@pytest.fixture
def project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_slow_robot: Callable[[Path], Path],
) -> Path:
    """A project with the robot ``slow``; no RPA_* variables of the caller."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    return write_slow_robot(tmp_path / "project")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, project: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    """The shared queue: the project's SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{project / '.rpa' / 'robotlib.db'}"
        yield url, {}
    else:
        make: Callable[[], str] = request.getfixturevalue("make_postgresql_database")
        url = make()
        yield url, {"RPA_DATABASE_URL": url}


def rpa(project: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``rpa --project PROJECT ARGS`` as a user would, in its own session."""
    return subprocess.Popen(
        [sys.executable, "-m", "robotlib.cli", "--project", str(project), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
        start_new_session=True,
    )


def write_items(project: Path, count: int, **fields: Any) -> Path:
    path = project / "items.json"
    rows = [{"key": f"item-{number:05d}", **fields} for number in range(count)]
    path.write_text(json.dumps(rows), "utf-8")
    return path


def processed(project: Path) -> list[dict[str, Any]]:
    path = project / "done.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_four_workers_process_2000_items_exactly_once(
    project: Path, database: tuple[str, dict[str, str]]
) -> None:
    """Every item is registered once: none twice, none lost, on both databases."""
    url, env = database
    items = write_items(project, 2000)

    run = rpa(project, "run", "slow", "--workers", "4", "--input", str(items), env=env)
    output, _ = run.communicate(timeout=600)

    assert run.returncode == 0, output
    done = Counter(record["key"] for record in processed(project))
    assert len(done) == 2000, "no item lost"
    assert set(done.values()) == {1}, f"twice: {[k for k, n in done.items() if n > 1]}"
    assert len({record["pid"] for record in processed(project)}) >= 2
    backend = SqlAlchemyBackend(url)
    try:
        counts = backend.counts("slow")
        assert counts[ItemState.DONE] == 2000
        assert sum(counts.values()) == 2000
        runs = backend.runs("slow")
    finally:
        backend.close()
    coordinator = [r for r in runs if not r.id[-2:].startswith("w")]
    workers = [r for r in runs if r.id[-2:].startswith("w")]
    assert len(coordinator) == 1 and len(workers) == 4
    assert coordinator[0].status is RunStatus.COMPLETED
    assert coordinator[0].counts == {"done": 2000}
    assert sum(r.counts.get("done", 0) for r in workers) == 2000
    assert "with 4 workers: completed" in output
    assert "done 2000" in output


def test_failed_items_of_all_workers_make_the_run_exit_3(project: Path) -> None:
    """Two failed items over two workers, failed_item_threshold = 1: each worker
    may stay under the threshold, but the run is judged by its total, so it ends
    completed_with_failures and `rpa run --workers 2` exits 3."""
    robot = project / "robots" / "slow.py"  # two system exceptions do not stop it
    text = robot.read_text("utf-8")
    robot.write_text(
        text.replace("stop_after_system_errors=1", "stop_after_system_errors=5"),
        "utf-8",
    )
    (project / "rpa.toml").write_text("[notify]\nfailed_item_threshold = 1\n", "utf-8")
    rows = [{"key": f"broken-{n}", "broken": True} for n in range(2)]
    rows += [{"key": f"item-{n:02d}", "sleep_s": 0.05} for n in range(10)]
    items = project / "items.json"
    items.write_text(json.dumps(rows), "utf-8")

    run = rpa(project, "run", "slow", "--workers", "2", "--input", str(items), env={})
    output, _ = run.communicate(timeout=300)

    assert run.returncode == 3, output
    backend = SqlAlchemyBackend(f"sqlite:///{project / '.rpa' / 'robotlib.db'}")
    try:
        runs = backend.runs("slow")
    finally:
        backend.close()
    [coordinator] = [r for r in runs if not r.id[-2:].startswith("w")]
    workers = [r for r in runs if r.id[-2:].startswith("w")]
    assert (RunStatus.COMPLETED_WITH_FAILURES, {"done": 10, "failed": 2}) == (
        coordinator.status,
        coordinator.counts,
    )
    assert len(workers) == 2
    assert {r.status for r in workers} <= {
        RunStatus.COMPLETED,
        RunStatus.COMPLETED_WITH_FAILURES,
    }
    assert "with 2 workers: completed_with_failures" in output
    assert (
        f"Run {coordinator.id} completed with failures: 2 failed item(s); "
        "see `rpa exceptions slow`."
    ) == output.strip().splitlines()[-1]


def test_json_of_a_run_with_workers_is_one_object_with_each_worker_run(
    project: Path,
) -> None:
    """`rpa run --workers 2 --json`: stdout is the coordinator's record alone (the
    workers print nothing there), listing both worker runs."""
    items = write_items(project, 6, sleep_s=0.05)
    args = ["--project", str(project), "run", "slow", "--workers", "2", "--json"]
    run = subprocess.run(
        [sys.executable, "-m", "robotlib.cli", *args, "--input", str(items)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert ("completed", 2, 6) == (
        record["status"],
        record["workers"],
        record["counts"]["done"],
    )
    assert 2 == len(record["worker_runs"])
    assert all(Path(w["log"]).is_file() for w in record["worker_runs"])


def test_ctrl_c_stops_every_worker_after_its_current_item(project: Path) -> None:
    """One Ctrl+C: each worker finishes its item and stops; nothing half done."""
    items = write_items(project, 40, sleep_s=0.4)
    run = rpa(project, "run", "slow", "--workers", "2", "--input", str(items), env={})
    deadline = time.monotonic() + 120
    while len(processed(project)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)

    os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl+C does
    output, _ = run.communicate(timeout=120)

    assert run.returncode == 1, output
    assert "Stopping every worker after its current item" in output
    backend = SqlAlchemyBackend(f"sqlite:///{project / '.rpa' / 'robotlib.db'}")
    try:
        counts = backend.counts("slow")
        workers = [r for r in backend.runs("slow") if r.id[-2:].startswith("w")]
    finally:
        backend.close()
    done = [record["key"] for record in processed(project)]
    assert counts[ItemState.IN_PROGRESS] == 0, "every worker finished its item"
    assert counts[ItemState.DONE] == len(done) == len(set(done))
    assert counts[ItemState.DONE] + counts[ItemState.NEW] == 40
    assert counts[ItemState.NEW] > 0, "stopped before the end"
    assert [r.status for r in workers] == [RunStatus.STOPPED] * 2
    assert {r.note for r in workers} == {"interrupted"}


def test_rpa_worker_adds_workers_that_load_nothing(
    project: Path, database: tuple[str, dict[str, str]]
) -> None:
    """`rpa run` loads and starts; `rpa worker` (another machine) helps finish."""
    url, env = database
    items = write_items(project, 60)
    first = rpa(project, "run", "slow", "--input", str(items), "--limit", "5", env=env)
    first.communicate(timeout=120)
    (project / "items.json").unlink()  # the other machine has no input file

    helper = rpa(project, "worker", "slow", "--workers", "2", env=env)
    output, _ = helper.communicate(timeout=300)

    assert helper.returncode == 0, output
    done = Counter(record["key"] for record in processed(project))
    assert len(done) == 60 and set(done.values()) == {1}
    backend = SqlAlchemyBackend(url)
    try:
        assert backend.counts("slow")[ItemState.DONE] == 60
    finally:
        backend.close()
    assert "Loaded" not in output


def test_workers_stop_when_their_coordinator_is_killed(project: Path) -> None:
    """Killed at a time limit, say: its workers finish their item and stop."""
    items = write_items(project, 60, sleep_s=0.3)
    run = rpa(project, "run", "slow", "--workers", "2", "--input", str(items), env={})
    deadline = time.monotonic() + 120
    while len(processed(project)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)

    os.killpg(run.pid, signal.SIGKILL)  # the coordinator alone: workers have sessions
    run.communicate(timeout=30)
    backend = SqlAlchemyBackend(f"sqlite:///{project / '.rpa' / 'robotlib.db'}")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = [r for r in backend.runs("slow") if r.id[-2:].startswith("w")]
            if len(workers) == 2 and all(r.finished_at for r in workers):
                break
            time.sleep(0.2)
        counts = backend.counts("slow")
    finally:
        backend.close()

    assert [r.status for r in workers] == [RunStatus.STOPPED] * 2
    assert counts[ItemState.IN_PROGRESS] == 0
    assert counts[ItemState.NEW] > 0, "they stopped rather than finish the queue"
    done = [record["key"] for record in processed(project)]
    assert counts[ItemState.DONE] == len(done) == len(set(done))


def test_a_scheduled_job_with_workers_runs_them(project: Path) -> None:
    """workers = 2 in a schedule: one firing, a coordinated run of two workers."""
    items = write_items(project, 30)
    (project / "schedules").mkdir()
    (project / "schedules" / "nightly.toml").write_text(
        '[jobs.nightly]\nrobot = "slow"\ncron = "0 2 * * *"\n'
        f'input = "{items.name}"\nworkers = 2\n',
        "utf-8",
    )

    run = rpa(project, "schedules", "run-now", "nightly", env={})
    output, _ = run.communicate(timeout=300)

    assert run.returncode == 0, output
    backend = SqlAlchemyBackend(f"sqlite:///{project / '.rpa' / 'robotlib.db'}")
    try:
        runs = backend.runs("slow")
    finally:
        backend.close()
    coordinator = [r for r in runs if not r.id[-2:].startswith("w")]
    assert [(r.status, r.counts) for r in coordinator] == [
        (RunStatus.COMPLETED, {"done": 30})
    ]
    assert len(runs) == 3
    assert f"run {coordinator[0].id}" in output


def test_a_dead_worker_beyond_the_restart_limit_is_not_replaced(
    project: Path,
) -> None:
    """max_restarts=0: the kill is recorded, the item goes back to the queue, the
    run stops saying which worker died; the next run finishes the rest."""
    from robotlib.logs import configure_logging
    from robotlib.project import Project
    from robotlib.settings import load_settings
    from robotlib.workers import run_workers

    items = write_items(project, 20, sleep_s=0.3)
    opened = Project(load_settings(project))
    configure_logging(opened.settings, redactor=opened.redactor, console_level="ERROR")
    results: list[Any] = []
    runner = threading.Thread(
        target=lambda: results.append(
            run_workers(opened, "slow", workers=1, input_path=items, max_restarts=0)
        )
    )
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while len(processed(project)) < 2 and time.monotonic() < deadline:
            assert runner.is_alive(), "run_workers ended before the kill"
            time.sleep(0.05)
        [worker] = [r for r in opened.backend.runs("slow") if r.id.endswith("w1")]
        os.kill(worker.pid, signal.SIGKILL)
        runner.join(timeout=60)
        [result] = results
        counts = opened.backend.counts("slow")
        crashed = opened.backend.get_run(worker.id)
    finally:
        opened.close()

    assert (RunStatus.STOPPED, 1) == (result.status, result.exit_code)
    assert f"workers died: {worker.id} was killed by SIGKILL (none replaced)" in (
        result.note
    )
    assert RunStatus.CRASHED is crashed.status
    assert crashed.counts == {"done": len(processed(project))}
    assert 0 == counts[ItemState.IN_PROGRESS], "its item went back at once"
    assert counts[ItemState.NEW] + counts[ItemState.DONE] == 20
