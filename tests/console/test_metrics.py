"""The console's /metrics, read by prometheus-client's own parser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from robotlib.console import create_app
from robotlib.db import database_engine
from robotlib.fleet import AgentState, AgentStore
from robotlib.project import Project
from robotlib.queue.models import NewItem, RunStatus
from robotlib.settings import load_settings

TOKEN = "scrape-token-1"
RUN = "20261207T020000Z-abc123"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A console whose metrics token is the password of credentials "prometheus";
    the queue holds a run of lab (two workers) with one item of each end, and two
    new items."""
    for name in list(os.environ):
        if name.startswith("RPA_"):
            monkeypatch.delenv(name)
    (tmp_path / "robots").mkdir()
    (tmp_path / "rpa.toml").write_text(
        '[console]\nmetrics_credentials = "prometheus"\n', "utf-8"
    )
    secrets = tmp_path / "credentials.toml"
    secrets.write_text(f'[prometheus]\npassword = "{TOKEN}"\n', "utf-8")
    secrets.chmod(0o600)
    project = Project(load_settings(tmp_path))
    _record(project)
    _register_agents(project)
    with TestClient(create_app(project), base_url="http://127.0.0.1") as test_client:
        yield test_client
    project.close()


def _record(project: Project) -> None:
    backend = project.backend
    backend.start_run(RUN, "lab", host="vm", pid=1)
    for worker in ("w1", "w2", "a1"):  # a1: a slot an agent of the fleet took
        backend.start_run(RUN + worker, "lab", host="vm", pid=2)
    backend.enqueue("lab", [NewItem(str(n), {"n": n}) for n in range(5)], run_id=RUN)
    lease = timedelta(minutes=5)
    for end in ("done", "business", "failed"):
        item = backend.claim_next("lab", owner="w", lease=lease, run_id=RUN + "w1")
        assert item is not None
        if end == "done":
            backend.complete(item.id, owner="w", output={})
        elif end == "business":
            backend.business_exception(
                item.id, owner="w", error_type="BusinessRuleError", message="no"
            )
        else:
            backend.fail(
                item.id, owner="w", error_type="E", message="down", retry_at=None
            )
    for run_id in (RUN + "w1", RUN + "w2", RUN + "a1", RUN):
        backend.finish_run(run_id, status=RunStatus.COMPLETED, counts={})


def _register_agents(project: Project) -> None:
    """vm-1 beats and runs a worker; vm-2 went silent an hour ago."""
    engine = database_engine(project.settings.database)
    now = datetime.now(UTC)
    for name, clock in (("vm-1", now), ("vm-2", now - timedelta(hours=1))):
        agents = AgentStore(engine, clock=lambda clock=clock: clock)
        agents.register(
            name,
            host=f"{name}.hospital",
            robots=["lab"],
            workers=2,
            pid=1,
            version="0.1.0",
            heartbeat_s=10,
        )
        agents.beat(name, running=1, state=AgentState.ONLINE)
    engine.dispose()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_items_and_runs_for_the_token_bearer(client: TestClient) -> None:
    """Items by state, the queue's depth, runs (a run with workers counts once) and
    their durations, in the exposition format prometheus-client parses."""
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert 200 == answer.status_code
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(answer.text)
    lab = (("robot", "lab"),)

    def items(state: str) -> float:
        return samples["rpa_items", (("robot", "lab"), ("state", state))]

    assert (2, 1, 1, 1) == (
        items("new"),
        items("done"),
        items("business_exception"),
        items("failed"),
    )
    assert 2 == samples["rpa_queue_depth", lab]
    assert 1 == samples["rpa_runs_total", (("robot", "lab"), ("status", "completed"))]
    assert 1 == samples["rpa_run_duration_seconds_count", lab]
    assert 1 == samples["rpa_run_duration_seconds_bucket", (("le", "60.0"), *lab)]
    assert any(name == "rpa_last_run_end_timestamp_seconds" for name, _ in samples)


def test_metrics_show_each_agent_s_heartbeat_and_workers(client: TestClient) -> None:
    """An agent that beats is up with its running workers; one silent for an hour
    is down with none, its last heartbeat an hour old."""
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    samples = _samples(answer.text)
    up = {
        name: samples["rpa_agent_up", (("agent", name), ("host", f"{name}.hospital"))]
        for name in ("vm-1", "vm-2")
    }
    assert up == {"vm-1": 1, "vm-2": 0}
    running = {n: samples["rpa_agent_running_workers", (("agent", n),)] for n in up}
    assert running == {"vm-1": 1, "vm-2": 0}
    assert samples["rpa_agent_workers", (("agent", "vm-1"),)] == 2
    beats = {
        n: samples["rpa_agent_heartbeat_timestamp_seconds", (("agent", n),)] for n in up
    }
    assert 3500 < beats["vm-1"] - beats["vm-2"] < 3700


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}"])
def test_metrics_refuse_a_scrape_without_the_token(
    client: TestClient, header: str | None
) -> None:
    """No token, a wrong one, or not a bearer: 401 asking for one, no figures."""
    headers = {"Authorization": header} if header else {}

    answer = client.get("/metrics", headers=headers)

    assert 401 == answer.status_code
    assert "Bearer" in answer.headers["www-authenticate"]
    assert "rpa_items" not in answer.text
