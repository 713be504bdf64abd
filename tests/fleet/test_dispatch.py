"""The fleet's tables: slots taken at most once each, an agent marked offline once,
migration 7; with no live agent a firing runs on the scheduler's machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from robotlib.db import database_engine, migrations
from robotlib.fleet import AgentState, AgentStore, DispatchStore, GoneAgents
from robotlib.notify import Notification
from robotlib.queue import SqlAlchemyBackend
from robotlib.testing import FakeClock

RUN_NOW = ("schedules", "run-now", "fleet")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A project database, its schema current."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fleet.db'}"
    else:
        url = request.getfixturevalue("make_postgresql_database")()
    SqlAlchemyBackend(url).close()  # creates the schema
    made = database_engine(url)
    yield made
    made.dispose()


def register(agents: AgentStore, name: str, robots: tuple[str, ...] = ("*",)) -> None:
    agents.register(
        name,
        host=f"{name}.hospital",
        robots=robots,
        workers=2,
        pid=1,
        version="0.1.0",
        heartbeat_s=10,
    )


def test_agents_take_no_more_slots_than_offered(engine: Engine) -> None:
    """Eight agents grabbing at once from a dispatch of five slots: five slots are
    taken, each once, numbered 1 to 5, each naming its worker run."""
    dispatches = DispatchStore(engine, clock=lambda: datetime.now(UTC))
    dispatch = dispatches.open("slow", "20261207T010000Z-abc123", 5)
    taken: list[int] = []
    start = threading.Barrier(8)

    def grab(agent: str) -> None:
        start.wait()
        while (slot := dispatches.take(dispatch, agent)) is not None:
            taken.append(slot.slot)

    threads = [threading.Thread(target=grab, args=(f"a{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(taken) == [1, 2, 3, 4, 5]
    slots = dispatches.slots(dispatch)
    assert [s.worker_run_id for s in slots] == [
        f"20261207T010000Z-abc123a{n}" for n in range(1, 6)
    ]
    assert dispatches.wanting(None) == []
    dispatches.offer(dispatches.get(dispatch.run_id), 1)  # a worker to replace
    assert dispatches.take(dispatch, "a1") is not None
    dispatches.close(dispatch)
    dispatches.offer(dispatches.get(dispatch.run_id), 1)
    assert dispatches.take(dispatch, "a1") is None, "a closed dispatch gives none"


def test_a_stop_asked_leaves_no_slot_to_take(engine: Engine) -> None:
    dispatches = DispatchStore(engine, clock=lambda: datetime.now(UTC))
    dispatch = dispatches.open("slow", "20261207T010000Z-abc124", 3)
    assert dispatches.take(dispatch, "a1") is not None
    dispatches.ask_to_stop(dispatch, 1)
    assert dispatches.take(dispatch, "a2") is None
    assert dispatches.get(dispatch.run_id).stop == 1


def test_an_agent_that_stopped_beating_is_marked_offline_and_told_once(
    engine: Engine,
) -> None:
    """Three processes noticing the same silent agent: one marks it offline and
    tells the notifiers; an agent still beating and one of another robot's list
    are left alone."""
    clock = FakeClock(datetime(2026, 12, 7, 1, 0, tzinfo=UTC))
    agents = AgentStore(engine, clock=clock)
    register(agents, "vm-1")
    register(agents, "vm-2", robots=("lab_results",))
    clock.advance(timedelta(seconds=25))
    agents.beat("vm-2", running=1, state=AgentState.ONLINE)
    clock.advance(timedelta(seconds=10))  # vm-1: 35 s silent, 3 beats of 10 s
    told: list[Notification] = []

    class Recorder:
        name = "recorder"

        def send(self, notification: Notification) -> None:
            told.append(notification)

    watchers = [GoneAgents(AgentStore(engine, clock=clock), [Recorder()])] * 3
    gone: list[str] = []
    threads = [
        threading.Thread(target=lambda w=w: gone.extend(a.name for a in w.check()))
        for w in watchers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert gone == ["vm-1"]
    assert [n.kind for n in told] == ["agent_offline"]
    assert "vm-1 on vm-1.hospital is offline" in told[0].subject
    assert "3 beats of 10 s missed" in told[0].body
    states = {a.name: a.state for a in agents.all()}
    assert states == {"vm-1": AgentState.OFFLINE, "vm-2": AgentState.ONLINE}
    assert [a.name for a in agents.live_for("lab_results")] == ["vm-2"]
    assert agents.live_for("daily_report") == []


def test_version_6_database_gets_the_fleet_and_deadline_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    SqlAlchemyBackend(url).close()
    engine = database_engine(url)
    with engine.begin() as conn:
        for table in ("dispatch_slots", "dispatches", "agents", "deadline_alerts"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
        conn.exec_driver_sql("UPDATE schema_version SET version = 6")
    SqlAlchemyBackend(url).close()
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version FROM schema_version").scalar()
    engine.dispose()
    assert {"agents", "dispatches", "dispatch_slots", "deadline_alerts"} <= tables
    assert version == migrations.SCHEMA_VERSION


def test_with_no_live_agent_the_firing_runs_here(
    tmp_path: Path, write_slow_robot: Callable[[Path], Path]
) -> None:
    """An agent that stopped beating long ago does not take the firing: the
    scheduler's machine runs `workers = 2` itself, as without a fleet, and says
    that the agent is offline."""
    project = write_slow_robot(tmp_path / "project")
    url = f"sqlite:///{project / '.rpa' / 'robotlib.db'}"
    (project / ".rpa").mkdir()
    SqlAlchemyBackend(url).close()
    engine = database_engine(url)
    long_ago = FakeClock(datetime.now(UTC) - timedelta(hours=1))
    register(AgentStore(engine, clock=long_ago), "vm-1")
    engine.dispose()
    items = [{"key": f"item-{n:03d}"} for n in range(40)]
    (project / "items.json").write_text(json.dumps(items), "utf-8")
    (project / "schedules").mkdir()
    (project / "schedules" / "fleet.toml").write_text(
        '[jobs.fleet]\nrobot = "slow"\ncron = "0 2 * * *"\n'
        'input = "items.json"\nworkers = 2\n',
        "utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPA_")}

    fired = subprocess.run(
        [sys.executable, "-m", "robotlib.cli", "--project", str(project), *RUN_NOW],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert fired.returncode == 0, fired.stdout + fired.stderr
    backend = SqlAlchemyBackend(url)
    try:
        runs = backend.runs("slow")
    finally:
        backend.close()
    assert sorted(r.id[-2:] for r in runs if r.id[-2] == "w") == ["w1", "w2"]
    engine = database_engine(url)
    try:
        [agent] = AgentStore(engine, clock=lambda: datetime.now(UTC)).all()
        with engine.connect() as conn:
            offered = conn.exec_driver_sql("SELECT COUNT(*) FROM dispatches").scalar()
    finally:
        engine.dispose()
    assert offered == 0
    assert agent.state == AgentState.OFFLINE, "the firing's look marked it"
