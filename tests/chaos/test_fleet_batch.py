"""A lab results batch shared by two robot machines: agents in network namespaces
of their own, reaching PostgreSQL and the sandbox EPJ over veth pairs; one
machine's agent killed mid-batch. Every row accounted for, none registered twice."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from robotlib.db import database_engine
from robotlib.fleet import AgentStore
from robotlib.queue import ItemState, SqlAlchemyBackend

pytestmark = pytest.mark.browser

ROWS = 60
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_a_sandbox_batch_is_shared_by_two_machines_and_survives_a_killed_agent(
    make_chaos: Callable[..., Any],
    fleet: Any,
    make_postgresql_database: Callable[[], str],
) -> None:
    """`rpa run lab_results --workers 2 --fleet`, as the scheduler starts it: each
    machine's agent takes a slot and runs a browser worker; robot-vm-1's agent is
    SIGKILLed after 15 rows (its worker finishes its row and stops). Every row
    ends done or business exception (the planted bad ones), the EPJ holds each
    registration once, and both machines registered rows."""
    chaos = make_chaos()
    url = make_postgresql_database()
    chaos.database = url
    chaos.env["RPA_DATABASE_URL"] = url
    sandbox_port = urlsplit(chaos.sandbox.url).port
    agents = {}
    for name in ("robot-vm-1", "robot-vm-2"):
        host = fleet.host(name)
        env = {
            **chaos.env,
            "RPA_DATABASE_URL": fleet.database_for(host, url),
            "RPA_CRED_SANDBOX_URL": (
                f"http://{host.gateway}:{fleet.relay(host, sandbox_port)}"
            ),
        }
        argv = [sys.executable, "-m", "robotlib.cli", "--project"]
        argv += [str(REPOSITORY), "agent", "--name", name]
        argv += ["--robots", "lab_results", "--heartbeat", "1"]
        agents[name] = fleet.start(host, argv, env=env, log=f"{name}.log")
    _wait_for(lambda: _live(url) == 2, "two agents online", 60)
    plan = chaos.write_input(ROWS)

    run = chaos.start(
        "run", "lab_results", "--input", str(plan.path), "--workers", "2", "--fleet"
    )
    _wait_for(lambda: _ended(url) >= 15, "15 rows ended", 600)
    agents["robot-vm-1"].send_signal(signal.SIGKILL)
    output, _ = run.communicate(timeout=600)

    assert run.returncode == 0, output
    outcome = chaos.account(plan)
    assert outcome.counts["done"] == len(plan.valid), output
    assert outcome.counts["business_exception"] == len(plan.bad)
    backend = SqlAlchemyBackend(url)
    try:
        runs = backend.runs("lab_results")
    finally:
        backend.close()
    hosts = {r.host for r in runs if r.counts.get("done")}
    assert {"robot-vm-1", "robot-vm-2"} <= hosts, "each machine registered rows"
    assert "with 2 workers: completed" in output


def _live(url: str) -> int:
    SqlAlchemyBackend(url).close()  # the schema, whoever opens the database first
    engine = database_engine(url)
    try:
        agents = AgentStore(engine, clock=lambda: datetime.now(UTC))
        return len(agents.live_for("lab_results"))
    finally:
        engine.dispose()


def _ended(url: str) -> int:
    backend = SqlAlchemyBackend(url)
    try:
        counts = backend.counts("lab_results")
    finally:
        backend.close()
    return counts[ItemState.DONE] + counts[ItemState.BUSINESS_EXCEPTION]


def _wait_for(condition: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {seconds:g} s"
        time.sleep(0.5)
